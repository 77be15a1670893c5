"""The audit store's constants and the values it hands out (docs/AUDIT.md restates them)."""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass

from driver.vocabulary import DEVICE_CLASSES as DEVICE_CLASSES
from driver.vocabulary import PROFESSIONAL_ROLES as PROFESSIONAL_ROLES
from driver.vocabulary import ROLE_NAMES
from driver.vocabulary import TREATING_ROLES as TREATING_ROLES

# --- constants an auditor needs (docs/AUDIT.md) ------------------------------------------------

SCHEMA_VERSION = 2
#: PRAGMA application_id of a needlepen audit store: "NPEN" in ASCII.
APPLICATION_ID = 0x4E50454E
#: prev_hash of the first record.
GENESIS_HASH = hashlib.sha256(b"needlepen audit log v1").hexdigest()

ROLES: tuple[str, ...] = ROLE_NAMES
#: Professional roles that treat people: their sessions must name the client.

MAX_FAILED_PINS = 5
#: What a wrong PIN and an unknown operator ID both say (which IDs exist is not told).
BAD_LOGIN = "Wrong PIN or unknown operator ID; check both and try again."
LOCKOUT_SECONDS = 15 * 60

#: scrypt cost (n = 2**14, r = 8, p = 1: about 16 MiB and 50 ms per check on a laptop core).
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT_DKLEN = 32
_SALT_BYTES = 16

#: Kinds the store writes itself; append() refuses them so the tables can be replayed from the
#: chain without ambiguity.
STORE_KINDS = frozenset(
    {
        "operator_added",
        "operator_disabled",
        "login",
        "login_failed",
        "session_opened",
        "session_closed",
        "treatment_recorded",
        "treatment_withdrawn",
        "cartridge_recorded",
        "operator_unlocked",
        "operator_pin_reset",
    }
)

MAX_DATA_BYTES = 1 << 20
_MAX_DEPTH = 32
_MAX_TS = 1e11  # seconds since the epoch: year 5138; anything beyond is a bug, not a time
_U32 = 0xFFFFFFFF
_DAY = 86_400.0

_KIND_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,39}")
_OP_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_PIN_RE = re.compile(r"[0-9]{4,12}")
_ZONE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    id: str
    name: str
    role: str
    disabled: bool
    locked_until: float | None
    failed_attempts: int = 0
    #: may add, disable, unlock operators and reset PINs (with their own ID and PIN)
    admin: bool = False


@dataclass(frozen=True)
class Record:
    id: int
    ts: float
    session_id: int | None
    kind: str
    data: dict[str, object]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class SessionRow:
    id: int
    role: str
    operator_id: str | None
    client_ref: str | None
    device_serial: int
    boot_id: int
    device_class: str
    started: float
    ended: float | None
    end_reason: str | None


@dataclass(frozen=True)
class StartFacts:
    """What the start rules read, gathered inside the transaction that records the start."""

    client_ref: str | None
    zone: str
    #: days since this client's zone was treated in another session (None: never)
    days_since_last: float | None
    #: the fitted cartridge was recorded in another session
    cartridge_used_before: bool
    #: the data of this session's screening records, in order
    screening: tuple[dict[str, object], ...]


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    first_broken: int | None
    problem: str | None
    head: str | None = None


class Interruption(enum.StrEnum):
    """What ended a session without the operator choosing it (the `interrupted` field of its
    session_closed record). Only such a session may be continued (`begin_session(continues=)`)."""

    LINK_LOST = "link_lost"
    PEN_REBOOTED = "pen_rebooted"
    #: the pen ended the session itself: its watchdog, or it answered that it has none
    PEN_ENDED = "pen_ended"


#: A session continues an interrupted one only if that one ended at most this long before.
CONTINUE_WITHIN_SECONDS = 2 * 60 * 60
