"""The audit store: one contract (`AuditStore`) over an SQLite file or a PostgreSQL database.

Modules: values (constants, typed values), canon (canonical form, hashing, text checks),
clients (client references), schema (tables and generated triggers for both backends,
grants), backend (the seam and SQLite), postgres, base (transactions and the chain),
operators, sessions, verify, replay, export, store (the AuditStore class), cli
(`needlepen db ...`).
"""

from driver.audit.backend import is_url
from driver.audit.base import DB_ENV
from driver.audit.canon import (
    canonical_json,
    check_new_operator,
    check_pin,
    iso_utc,
    pin_fingerprint,
    record_hash,
)
from driver.audit.clients import check_client, home_client, normalise_client
from driver.audit.sessions import WORKSTATION_ENV, workstation_name
from driver.audit.store import AuditStore
from driver.audit.values import (
    APPLICATION_ID,
    BAD_LOGIN,
    CONTINUE_WITHIN_SECONDS,
    DEVICE_CLASSES,
    GENESIS_HASH,
    LOCKOUT_SECONDS,
    MAX_DATA_BYTES,
    MAX_FAILED_PINS,
    PROFESSIONAL_ROLES,
    ROLES,
    SCHEMA_VERSION,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    STORE_KINDS,
    TREATING_ROLES,
    Interruption,
    Operator,
    Record,
    SessionRow,
    StartFacts,
    VerifyResult,
)
from driver.errors import (
    NotAdministrator,
    OperatorDisabled,
    OperatorLocked,
    StoreError,
    StoreUntrusted,
    UnknownOperator,
    WrongPin,
)

__all__ = [
    "APPLICATION_ID",
    "BAD_LOGIN",
    "CONTINUE_WITHIN_SECONDS",
    "DB_ENV",
    "DEVICE_CLASSES",
    "GENESIS_HASH",
    "LOCKOUT_SECONDS",
    "MAX_DATA_BYTES",
    "MAX_FAILED_PINS",
    "PROFESSIONAL_ROLES",
    "ROLES",
    "SCHEMA_VERSION",
    "SCRYPT_N",
    "SCRYPT_P",
    "SCRYPT_R",
    "STORE_KINDS",
    "TREATING_ROLES",
    "WORKSTATION_ENV",
    "AuditStore",
    "Interruption",
    "NotAdministrator",
    "Operator",
    "OperatorDisabled",
    "OperatorLocked",
    "Record",
    "SessionRow",
    "StartFacts",
    "StoreError",
    "StoreUntrusted",
    "UnknownOperator",
    "VerifyResult",
    "WrongPin",
    "canonical_json",
    "check_client",
    "check_new_operator",
    "check_pin",
    "home_client",
    "is_url",
    "iso_utc",
    "normalise_client",
    "pin_fingerprint",
    "record_hash",
    "workstation_name",
]
