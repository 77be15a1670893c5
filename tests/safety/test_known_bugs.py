"""Bugs the safety suite found in code QA does not own, pinned as strict xfails until fixed.

Each test states the correct behaviour. `strict=True`: the day the bug is fixed the test passes,
the xfail turns into a failure, and whoever fixed it removes the marker.
"""

from __future__ import annotations

import pytest

from driver.errors import DriverError
from tests.safety.harness import Rig


@pytest.mark.xfail(
    strict=True,
    reason=(
        "driver/pen.py select_zone: self.zone is switched before the clamping SET_DEPTH is "
        "sent; when that command fails (NoAnswer after its resends, the session staying "
        "alive), the driver reports the new zone while the pen keeps running at the old "
        "zone's deeper depth (and a later set_rate decides the clamp but sends only the rate)"
    ),
)
def test_a_failed_zone_change_clamp_never_leaves_the_needle_too_deep() -> None:
    rig = Rig(device="professional", seed=3, watchdog_ms=1000)
    try:
        pen = rig.connect("home").pen
        assert pen is not None
        pen.select_zone("cheeks")
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.start()
        rig.run(0.2)
        rig.sim.apply("drop:host=1")  # 200 ms of loss: exactly the clamp and its resends
        with pytest.raises(DriverError):
            pen.select_zone("periorbital")
        rig.sim.link.clear()
        rig.run(0.5)
        pen.set_rate(90)  # the operator carries on: does anything correct the depth?
        running_too_deep = (
            rig.fw.needle_running
            and pen.zone == "periorbital"
            and rig.fw.depth_set_um > round((pen.cap_mm() or 0) * 1000)
        )
        assert not running_too_deep, (
            f"the needle runs at {rig.fw.depth_set_um} µm while the driver reports zone "
            f"{pen.zone} (cap {pen.cap_mm()} mm)"
        )
    finally:
        rig.close()
