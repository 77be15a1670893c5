"""The words every layer of the host shares: roles, zones, device classes, the home client, and
depths in micrometres and millimetres. Spelled here once (and in the default policy TOML);
everything else imports them.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AESTHETICIAN_ROLE",
    "BENCH_ZONE",
    "CLINICIAN_ROLE",
    "DEVICE_CLASSES",
    "ENGINEER_ROLE",
    "HOME_CLASS",
    "HOME_CLIENT",
    "HOME_ROLE",
    "PRIVILEGE_ORDER",
    "PROFESSIONAL_CLASS",
    "PROFESSIONAL_ROLES",
    "ROLE_NAMES",
    "TREATING_ROLES",
    "ZONE_NAMES",
    "format_mm",
]

HOME_ROLE: Final = "home"
AESTHETICIAN_ROLE: Final = "aesthetician"
CLINICIAN_ROLE: Final = "clinician"
ENGINEER_ROLE: Final = "engineer"
#: Every role, least privileged first.
ROLE_NAMES: Final[tuple[str, ...]] = (HOME_ROLE, AESTHETICIAN_ROLE, CLINICIAN_ROLE, ENGINEER_ROLE)
#: Roles that log in with an ID and PIN.
PROFESSIONAL_ROLES: Final[tuple[str, ...]] = (AESTHETICIAN_ROLE, CLINICIAN_ROLE, ENGINEER_ROLE)
#: Roles that treat other people (a session names its client).
TREATING_ROLES: Final[tuple[str, ...]] = (AESTHETICIAN_ROLE, CLINICIAN_ROLE)
#: Roles that treat people, least privileged first: each never gets less than the one before.
PRIVILEGE_ORDER: Final[tuple[str, ...]] = (HOME_ROLE, AESTHETICIAN_ROLE, CLINICIAN_ROLE)

BENCH_ZONE: Final = "bench"
#: Every treatment zone, in the order screens list them; the bench is a test block, not skin.
ZONE_NAMES: Final[tuple[str, ...]] = (
    "forehead",
    "periorbital",
    "nose",
    "upper_lip",
    "cheeks",
    "chin_jawline",
    "neck",
    "decolletage",
    "hands",
    "scalp",
    "acne_scars",
    "stretch_marks",
    BENCH_ZONE,
)

HOME_CLASS: Final = "home"
PROFESSIONAL_CLASS: Final = "professional"
DEVICE_CLASSES: Final[tuple[str, ...]] = (HOME_CLASS, PROFESSIONAL_CLASS)

#: What a home session is recorded against before the pen's serial keys it (see the store).
HOME_CLIENT: Final = "self"


def mm_number(um: int) -> str:
    """A depth in millimetres without its unit, for tables and sentences that name the unit
    once: two decimals, three where the micrometres need them (275 -> "0.275")."""
    return f"{um / 1000:.2f}" if um % 10 == 0 else f"{um / 1000:.3f}"


def format_mm(um: int) -> str:
    """A depth for people: two decimals, three where the micrometres need them (0.275 mm)."""
    return f"{mm_number(um)} mm"
