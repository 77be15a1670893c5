"""Host compatibility: the needlepen driver itself, in every role the pen's class allows, and
EVENT details read the way the host reads them (see driver.testing.conformance.host).

A pen can keep every promise of the ICD's letter and still be one the host cannot work with;
these checks fail such a pen. Each opens a new session (the driver's HELLO), so they run last.
"""

from __future__ import annotations

import pytest

from driver.session import Pen
from driver.testing.conformance.client import PenClient, is_event
from driver.testing.conformance.hands import Hands, run_needle
from driver.testing.conformance.host import ALL_ROLES, roles_for, treat_with_role
from driver.testing.conformance.reasons import OTHER_CLASS_REASON
from protocol import EventCode, Fault, State, fault_of_bit


@pytest.mark.ends_session
@pytest.mark.parametrize("role", ALL_ROLES)
def test_the_driver_treats_estops_and_closes_in_each_role_the_pen_allows(
    pen: PenClient, hands: Hands, role: str, host_pen_class: type[Pen]
) -> None:
    info = pen.session()
    allowed = roles_for(info.device_class)
    if role not in allowed:
        kind = info.device_class.name.lower()
        pytest.skip(f"{OTHER_CLASS_REASON} {kind} pen: its roles are {', '.join(allowed)}")
    run = treat_with_role(pen, hands, role, pen_class=host_pen_class)
    assert run.zone and run.depth_mm is not None and run.rate_hz is not None
    assert all(st.state == State.RUNNING for st in run.running)
    assert run.estop_status is not None and run.estop_status.state == State.ESTOP


@pytest.mark.manual
def test_a_fault_event_names_the_fault_that_status_shows(pen: PenClient, hands: Hands) -> None:
    pen.session()
    run_needle(pen, hands)
    mark = pen.mark()
    hands.do("remove_cartridge")
    raised = pen.wait_for(is_event(EventCode.FAULT_RAISED), since=mark, what="EVENT FAULT_RAISED")
    assert raised.event is not None
    st = pen.wait_status(
        lambda s: s.state == State.FAULT, since=raised.index, what="STATUS in FAULT"
    ).status
    assert st is not None
    detail = raised.event.detail
    assert st.faults & Fault.CARTRIDGE_REMOVED, "STATUS does not show CARTRIDGE_REMOVED"
    named = fault_of_bit(detail) if 0 <= detail <= 15 else None
    hands.do("insert_fresh_cartridge")  # leave the pen as it was (a person does this on a pen)
    assert named == Fault.CARTRIDGE_REMOVED, (
        f"EVENT FAULT_RAISED for a pulled cartridge carries detail {detail}; the detail is "
        f"the fault's bit number, {Fault.CARTRIDGE_REMOVED.bit_length() - 1} for "
        f"CARTRIDGE_REMOVED, which STATUS shows as faults {int(st.faults):#06x}."
    )
