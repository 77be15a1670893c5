"""Host compatibility: a real `driver.Pen` session against the pen under test.

The other checks judge the pen by the ICD's letter, with a minimal host. These judge it the way
the needlepen host needs: for a role the pen's class allows, the driver connects (HELLO, INFO
bounds, telemetry), logs an operator in (from a temporary audit store), chooses a zone the role
may treat, sets a depth and a rate through the governor, treats for about a second, e-stops and
waits until the pen confirms it (`Pen.estop_pending` False and STATUS in ESTOP), releases the
e-stop and closes. A pen that passes the ICD checks but that this host cannot work with (e.g. a
post-HELLO rate set-point the host once judged as the operator's request) fails here.

The suite's own client lends its open port to the driver for the session (`PenClient.lend`),
so a real pen is not re-opened. `pen_class` lets a test run the same steps with a modified host.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from driver.audit import AuditStore
from driver.errors import DriverError
from driver.safety import Outcome
from driver.safety.policy import default_policy
from driver.session import Pen
from driver.vocabulary import HOME_ROLE, PROFESSIONAL_ROLES, ROLE_NAMES
from protocol import DeviceClass, State, Status

from .client import ConformanceError, PenClient
from .hands import Hands

#: The roles a pen's class allows the host to use (docs/CONFORMANCE.md, "Host compatibility").
ROLES_BY_CLASS: dict[DeviceClass, tuple[str, ...]] = {
    DeviceClass.HOME: (HOME_ROLE,),
    DeviceClass.PROFESSIONAL: PROFESSIONAL_ROLES,
}
ALL_ROLES = ROLE_NAMES
#: How long the needle runs in each role.
TREAT_S = 1.0
#: How long the pen has to confirm an e-stop (its ACK or a STATUS in ESTOP); the driver resends
#: it every 20 ms meanwhile. A bound on a behaviour, not a performance figure.
ESTOP_CONFIRM_S = 1.0
#: The rate the suite asks for (the governor brings it into the role's and the pen's range).
RATE_HZ = 100
PIN = "24681357"
CLIENT = "CONFORMANCE-1"


@dataclass
class HostRun:
    """What the driver did in one role: the zone, the depth and rate it approved, and the
    STATUS seen while treating and after the e-stop."""

    role: str
    zone: str = ""
    depth_mm: float | None = None
    rate_hz: int | None = None
    running: list[Status] = field(default_factory=list)
    estop_status: Status | None = None
    estop_confirmed_s: float | None = None


def roles_for(device_class: DeviceClass) -> tuple[str, ...]:
    return ROLES_BY_CLASS.get(DeviceClass(device_class), ())


def treat_with_role(
    client: PenClient,
    hands: Hands,
    role: str,
    *,
    pen_class: type[Pen] = Pen,
    label: str = "the pen under test",
) -> HostRun:
    """One driver session in `role` on the pen behind `client`: zone, depth, rate, a second
    of treatment, a confirmed e-stop, release, close. Raises ConformanceError, one sentence
    naming the step and what the driver said, when the host cannot do one of them."""
    cls = pen_class
    # The driver loads its built-in policy (pydantic) on its first connect; done here, before
    # the port is lent, so the lend is no longer than the driver's own session: the pen's
    # output would otherwise wait unread for a quarter of a second and be shed.
    default_policy()
    hands.unused_cartridge()  # the driver's HELLO makes a cartridge used in this session SPENT
    run = HostRun(role)
    with tempfile.TemporaryDirectory(prefix="needlepen-conformance-") as tmp:
        store = AuditStore(Path(tmp) / "audit.db", scrypt_n=2**8)
        try:
            operator = None
            if role != "home":
                operator = f"conformance-{role}"
                store.add_operator(operator, f"Conformance {role}", role, PIN)
            with client.lend() as port:
                step = "connect (HELLO, INFO, telemetry)"
                try:
                    drv = cls.connect(label, db=store, port=port)
                except DriverError as exc:
                    raise _refused(role, step, exc) from exc
                try:
                    _session(drv, run, operator)
                except DriverError as exc:
                    raise _refused(role, run_step(run), exc) from exc
                finally:
                    drv.close("conformance")
        finally:
            store.close()
            client.keepalive = True
    return run


def run_step(run: HostRun) -> str:
    """The step a run was at, from what it had done so far (for the failure sentence)."""
    if not run.zone:
        return "log in and choose a zone"
    if run.depth_mm is None:
        return f"set a depth on {run.zone}"
    if run.rate_hz is None:
        return f"set a rate on {run.zone}"
    if not run.running:
        return f"start the needle on {run.zone}"
    if run.estop_status is None:
        return "treat for a second and e-stop"
    return "release the e-stop and close"


def _session(drv: Pen, run: HostRun, operator: str | None) -> None:
    role = run.role
    drv.begin(role=role, operator=operator, pin=PIN if operator else None, client=_client(role))
    zone = _zone_for(drv)
    if zone is None:
        raise ConformanceError(
            f"The needlepen host finds no zone the {role} role may treat with this pen "
            "(its INFO ranges leave none)."
        )
    drv.select_zone(zone)
    run.zone = zone
    cap = drv.cap_mm(zone)
    assert cap is not None
    depth = drv.set_depth(cap)
    if depth.outcome not in (Outcome.ALLOWED, Outcome.CLAMPED) or depth.depth_mm is None:
        raise ConformanceError(
            f"The governor refused {cap:.2f} mm on {zone} for the {role} role with this pen: "
            + " ".join(depth.reasons)
        )
    run.depth_mm = depth.depth_mm
    rate = drv.set_rate(_rate_for(drv))
    if rate.outcome not in (Outcome.ALLOWED, Outcome.CLAMPED) or rate.rate_hz is None:
        raise ConformanceError(
            f"The governor refused every rate for the {role} role with this pen: "
            + " ".join(rate.reasons)
        )
    run.rate_hz = rate.rate_hz
    drv.start()
    run.running.append(drv.wait_for_state(State.RUNNING, timeout=1.0))
    _treat(drv, run)
    t0 = time.monotonic()
    drv.estop()
    run.estop_status = _confirmed(drv)
    run.estop_confirmed_s = time.monotonic() - t0
    drv.reset("estop")
    drv.wait_for_state(State.IDLE, timeout=1.0)


def _client(role: str) -> str | None:
    return None if role == "home" else CLIENT


def _zone_for(drv: Pen) -> str | None:
    for zone in drv.governor.zones_for(drv.role):
        if drv.governor.cap_for(drv.role, zone, drv.device) is not None:
            return zone
    return None


def _rate_for(drv: Pen) -> int:
    bounds = drv.governor.rate_range_for(drv.role, drv.device)
    if bounds is None:
        return RATE_HZ
    lo, hi = bounds
    return min(max(RATE_HZ, lo), hi)


def _treat(drv: Pen, run: HostRun) -> None:
    """About a second of treatment: the pen stays RUNNING and the session alive throughout."""
    deadline = time.monotonic() + TREAT_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
        st = drv.status
        if not drv.alive or st is None or st.state != State.RUNNING:
            now = "the session ended" if not drv.alive else f"it reports {_state(st)}"
            raise ConformanceError(
                f"The needle stopped while the {run.role} role treated {run.zone}: {now}"
                + (f" ({drv.dead})" if drv.dead is not None else "")
                + "."
            )
        run.running.append(st)


def _confirmed(drv: Pen) -> Status:
    """Wait until the pen confirms the e-stop: `estop_pending` False and STATUS in ESTOP."""
    deadline = time.monotonic() + ESTOP_CONFIRM_S
    while True:
        st = drv.status
        if not drv.estop_pending and st is not None and st.state == State.ESTOP:
            return st
        if time.monotonic() >= deadline:
            pending = "still unconfirmed" if drv.estop_pending else "confirmed"
            raise ConformanceError(
                f"The pen did not confirm the host's e-stop within {ESTOP_CONFIRM_S:g} s: the "
                f"host says it is {pending} and STATUS says {_state(st)} (an e-stop is "
                "confirmed by its ACK or a STATUS in ESTOP)."
            )
        time.sleep(0.005)


def _state(st: Status | None) -> str:
    return "nothing" if st is None else st.state.name


def _refused(role: str, step: str, exc: Exception) -> ConformanceError:
    return ConformanceError(
        f"The needlepen host could not {step} as {role} with this pen: {exc}"
        + ("" if str(exc).endswith(".") else ".")
    )
