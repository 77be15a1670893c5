"""Compatibility shim: the audit store now lives in `driver.audit` (this module goes later).

Every public name that was importable from `driver.store` still is.
"""

from driver.audit import *  # noqa: F403
from driver.audit import __all__ as _audit_all
from driver.audit.schema import _MIGRATIONS
from driver.audit.values import _KIND_RE

__all__ = [*_audit_all, "_KIND_RE", "_MIGRATIONS"]
