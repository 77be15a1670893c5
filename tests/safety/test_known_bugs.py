"""Bugs the safety suite found in code QA does not own, pinned as strict xfails until fixed.

Each test states the correct behaviour. `strict=True`: the day the bug is fixed the test passes,
the xfail turns into a failure, and the test moves to test_regressions.py.
"""

from __future__ import annotations

import pytest

from driver.errors import DriverError
from driver.testing.safety import Rig


def test_a_start_whose_answer_is_lost_still_records_the_treatment() -> None:
    rig = Rig(seed=3)
    try:
        pen = rig.connect("home").pen
        assert pen is not None
        pen.select_zone("forehead")
        pen.set_rate(100)
        pen.set_depth(0.4)
        rig.sim.apply("drop:pen=1")  # the pen hears START; its answers are lost
        with pytest.raises(DriverError):
            pen.start()
        rig.sim.link.clear()
        rig.run(1.0)
        kinds = [r.kind for r in rig.store.records(pen.session_id)]
        if rig.fw.needle_running:  # the pen treats: the audit log must know it
            assert "treatment_recorded" in kinds, kinds
            assert "cartridge_recorded" in kinds, kinds
    finally:
        rig.close()
