"""The canonical form of a record, its hash, and the checks of every text the store keeps.

Pure functions (no database): docs/AUDIT.md restates the canonical form and the hash.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import hashlib
import json
import math
import time
from collections.abc import Mapping
from typing import Any

from driver.audit.values import (
    _CONTROL_RE,
    _MAX_DEPTH,
    _MAX_TS,
    _OP_ID_RE,
    _PIN_RE,
    _SCRYPT_DKLEN,
    _U32,
    _ZONE_RE,
    DEVICE_CLASSES,
    MAX_DATA_BYTES,
    ROLES,
)
from driver.errors import StoreError


def _plain(value: object, where: str, depth: int) -> object:
    """A JSON-ready copy of `value`: enums by name, non-finite floats as strings."""
    if depth > _MAX_DEPTH:
        raise StoreError(f"The record's data is nested deeper than {_MAX_DEPTH} levels.")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, int):
        if abs(value) >= 1 << 63:  # beyond what JSON readers keep exactly: a short text
            return f"{decimal.Decimal(int(value)):.6e}"
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise StoreError(
                    f"The record's data has a key {key!r} at {where} that is not a string."
                )
            out[key] = _plain(item, f"{where}.{key}", depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise StoreError(
        f"The record's data holds a {type(value).__name__} at {where}, which cannot be "
        "stored as JSON."
    )


def canonical_json(data: Mapping[str, object]) -> str:
    """The canonical text of a record's data: sorted keys, no spaces, ASCII only, no NaN."""
    if not isinstance(data, Mapping):
        raise StoreError("A record's data must be a mapping of names to values.")
    plain = _plain(data, "data", 0)
    text = json.dumps(
        plain, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    if len(text) > MAX_DATA_BYTES:
        raise StoreError(
            f"The record's data is too large ({len(text)} bytes; at most {MAX_DATA_BYTES})."
        )
    return text


def record_hash(
    prev_hash: str, record_id: int, ts_us: int, session_id: int | None, kind: str, data: str
) -> str:
    """SHA-256 (hex) of a record: prev_hash, id, ts_us, session_id, kind and data, one per line."""
    sid = "" if session_id is None else str(session_id)
    content = f"{prev_hash}\n{record_id}\n{ts_us}\n{sid}\n{kind}\n{data}"
    return hashlib.sha256(content.encode("ascii", "backslashreplace")).hexdigest()


def pin_fingerprint(
    salt: bytes | None, pin_hash: bytes | None, n: Any, r: Any, p: Any
) -> str | None:
    """What the log records of a PIN hash: enough to notice a swapped hash, useless to crack."""
    if salt is None and pin_hash is None:
        return None
    material = f"scrypt:{n}:{r}:{p}:".encode() + bytes(salt or b"") + b":" + bytes(pin_hash or b"")
    return hashlib.sha256(material).hexdigest()


def iso_utc(ts_us: int) -> str:
    """A timestamp as ISO 8601 in UTC with microseconds, e.g. 2025-03-01T09:30:00.000000Z."""
    moment = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC) + _dt.timedelta(microseconds=ts_us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quoted(text: object) -> str:
    """A user-given string quoted for a sentence, short and without control characters."""
    s = str(text)
    if len(s) > 40:
        s = s[:40] + "..."
    return repr(s) if not s.isprintable() or "'" in s else f"'{s}'"


def _clock(ts_us: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts_us / 1e6))


def _ts_us(now: float | None) -> int:
    if now is None:
        now = time.time()
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
        raise StoreError(f"A timestamp must be a finite number of seconds, not {now!r}.")
    if not 0 <= now <= _MAX_TS:
        raise StoreError(f"The timestamp {now!r} is not a plausible time.")
    return round(now * 1_000_000)


def _is_u32(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _U32


def _check_text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StoreError(f"The {what} must not be empty.")
    if value != value.strip():
        raise StoreError(f"The {what} must not start or end with spaces.")
    if len(value) > limit:
        raise StoreError(f"The {what} is too long (at most {limit} characters).")
    if _CONTROL_RE.search(value):
        raise StoreError(f"The {what} must not contain control characters.")
    return value


def _check_zone(zone: object) -> str:
    if not isinstance(zone, str) or not _ZONE_RE.fullmatch(zone):
        raise StoreError(f"{_quoted(zone)} is not a treatment zone name.")
    return zone


def _device_class(value: object) -> str:
    name = value.name if isinstance(value, enum.Enum) else value
    if not isinstance(name, str) or name.lower() not in DEVICE_CLASSES:
        raise StoreError(f"{_quoted(value)} is not a device class; it is home or professional.")
    return name.lower()


def check_new_operator(op_id: object, name: object, role: object) -> None:
    """Refuse a malformed operator ID, name or role (before anyone types a PIN for it)."""
    if not isinstance(op_id, str) or not _OP_ID_RE.fullmatch(op_id):
        raise StoreError(
            f"{_quoted(op_id)} is not a valid operator ID: use 1 to 32 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit."
        )
    _check_text(name, "operator's name", 100)
    if role not in ROLES:
        raise StoreError(f"{_quoted(role)} is not a role; choose one of {', '.join(ROLES)}.")


def check_pin(pin: object) -> str:
    """Refuse a PIN that is not 4 to 12 digits."""
    if not isinstance(pin, str) or not _PIN_RE.fullmatch(pin):
        raise StoreError("A PIN is 4 to 12 digits (0 to 9) and nothing else.")
    return pin


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        pin.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * 1024 * 1024,
        dklen=_SCRYPT_DKLEN,
    )
