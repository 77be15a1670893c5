"""Loading a policy: the default that ships with the package, a clinic's file over it, read
safely (regular files only, bounded in size and shape)."""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any, Final

from pydantic import ValidationError

from driver.text import printable

from .messages import _problems
from .model import (
    MAX_POLICY_BYTES,
    Policy,
    PolicyError,
)

# --- Loading -------------------------------------------------------------------------------------


def default_policy_text() -> str:
    """The shipped default policy file, as text."""
    shipped = resources.files("driver.safety").joinpath("default_policy.toml")
    return shipped.read_text(encoding="utf-8")


_DEFAULT: Policy | None = None


def _default_data() -> dict[str, Any]:
    return tomllib.loads(default_policy_text())


def default_policy() -> Policy:
    """The shipped default policy: the zones and roles of the domain notes."""
    global _DEFAULT
    if _DEFAULT is None:
        try:
            _DEFAULT = Policy.model_validate(_default_data())
        except ValidationError as exc:  # pragma: no cover - the shipped file is tested
            raise PolicyError(_problems(exc), "(built-in default)") from None
    return _DEFAULT


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with the keys `over` names replaced; tables merge key by key."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


#: A policy nests four levels deep (concerns.acne_scars.depth_mm.cheeks = [1.0, 1.5]) and has
#: a few hundred values.
MAX_POLICY_DEPTH: Final = 5
MAX_POLICY_ITEMS: Final = 2000


def _shape_problem(data: Mapping[str, Any]) -> str | None:
    """One sentence when the parsed file nests deeper or holds more keys and items than any
    policy can, before anything else reads it."""
    count = 0
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            items: list[object] = list(node.values())
        elif isinstance(node, list):
            items = list(node)
        else:
            continue
        if depth >= MAX_POLICY_DEPTH:
            return f"the file nests tables or lists deeper than a policy can ({MAX_POLICY_DEPTH})."
        count += len(items)
        if count > MAX_POLICY_ITEMS:
            return (
                f"the file holds more than {MAX_POLICY_ITEMS} keys and items, more than a policy."
            )
        stack.extend((item, depth + 1) for item in items)
    return None


def _fits(merged: Mapping[str, Any], name: str, table: Mapping[str, Any]) -> bool:
    try:
        Policy.model_validate({**merged, "concerns": {name: table}})
    except ValidationError:
        return False
    return True


def _inherited(merged: Mapping[str, Any], name: str, table: Mapping[str, Any]) -> Any:
    """A default concern as far as it fits the file's caps: whole, with only the roles it
    still fits, or None."""
    if _fits(merged, name, table):
        return table
    roles = table.get("roles")
    if not isinstance(roles, list):
        return None
    kept = [r for r in roles if _fits(merged, name, {**table, "roles": [r]})]
    return {**table, "roles": kept} if kept else None


def _with_inherited_concerns(data: Mapping[str, Any]) -> Policy:
    """The default with `data` applied. The concerns `data` names must fit its caps (or the
    whole file is refused); a default concern it does not name is kept for the roles whose
    caps it fits, and left out when it fits none, so a file that tightens a cap is not
    refused for a protocol it never mentioned (`policy check` names what was left out)."""
    defaults = _default_data()
    try:  # the usual case: every inherited concern fits
        return Policy.model_validate(_merge(defaults, data))
    except ValidationError:
        pass
    named = data.get("concerns")
    named_keys = set(named) if isinstance(named, Mapping) else set()
    default_concerns: Mapping[str, Any] = defaults.get("concerns", {})
    base = {k: v for k, v in defaults.items() if k != "concerns"}
    base["concerns"] = {k: v for k, v in default_concerns.items() if k in named_keys}
    merged = _merge(base, data)
    policy = Policy.model_validate(merged)  # raises for the file's own keys and concerns
    kept = dict(merged["concerns"])
    for name, table in default_concerns.items():
        if name not in named_keys and (fitting := _inherited(merged, name, table)) is not None:
            kept[name] = fitting
    if len(kept) == len(policy.concerns):
        return policy
    order = [*default_concerns, *(k for k in kept if k not in default_concerns)]
    return Policy.model_validate({**merged, "concerns": {k: kept[k] for k in order if k in kept}})


def load_policy_text(text: str, source: str | None = None) -> Policy:
    """The default policy with the keys of TOML `text` applied, or PolicyError for all of it."""
    if len(text) > MAX_POLICY_BYTES:
        raise PolicyError(
            [f"the text is larger than {MAX_POLICY_BYTES // 1024} KiB, too large for a policy."],
            source,
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([f"the file is not valid TOML: {printable(str(exc))}."], source) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. a number too long to read
        raise PolicyError([f"the file is not valid TOML ({type(exc).__name__})."], source) from None
    problem = _shape_problem(data)
    if problem is not None:
        raise PolicyError([problem], source)
    try:
        return _with_inherited_concerns(data)
    except ValidationError as exc:
        raise PolicyError(_problems(exc), source) from None
    except RecursionError:  # pragma: no cover - absurdly nested input
        raise PolicyError(["the file is nested too deeply to be a policy."], source) from None


def _read_policy_bytes(path: str | os.PathLike[str]) -> bytes:
    """At most MAX_POLICY_BYTES of a regular file; PolicyError for anything else.

    Devices, FIFOs and sockets (also behind a symlink) are refused before they are opened for
    reading, and the file is opened non-blocking and checked again on its descriptor, so a
    FIFO swapped in meanwhile can neither hang the caller nor stream without end.
    """
    source = printable(os.fspath(path))
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PolicyError(["the file does not exist."], source) from None
    except OSError as exc:
        raise PolicyError([f"the file cannot be read ({exc.strerror or exc})."], source) from None
    if stat.S_ISDIR(info.st_mode):
        raise PolicyError(["it is a directory, not a file."], source)
    if not stat.S_ISREG(info.st_mode):
        raise PolicyError(
            ["it is not a regular file (a device, FIFO or socket); a policy is a plain file."],
            source,
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise PolicyError([f"the file cannot be read ({exc.strerror or exc})."], source) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PolicyError(["it is not a regular file; a policy is a plain file."], source)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_POLICY_BYTES:
            chunk = os.read(fd, MAX_POLICY_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise PolicyError([f"the file cannot be read ({exc.strerror or exc})."], source) from None
    finally:
        os.close(fd)
    if size > MAX_POLICY_BYTES:
        raise PolicyError(
            [f"the file is larger than {MAX_POLICY_BYTES // 1024} KiB, too large for a policy."],
            source,
        )
    return b"".join(chunks)


def load_policy(path: str | os.PathLike[str] | None) -> Policy:
    """The policy in the TOML file at `path` over the default (None: the default itself)."""
    if path is None:
        return default_policy()
    raw = _read_policy_bytes(path)
    source = printable(os.fspath(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(["the file is not UTF-8 text."], source) from None
    return load_policy_text(text, source)
