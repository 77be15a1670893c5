"""The command path in real time over `sim://` (the in-process pen with its own thread):
the same three hazards as tests/safety/test_command_path.py, with a real reader thread,
real waits and the simulator's own clock."""

from __future__ import annotations

import threading
import time

from driver.session import DEPTH_TOLERANCE_UM, Pen
from tests.helpers import wait_for


def fw(pen: Pen):  # type: ignore[no-untyped-def]
    return pen.port.pen.firmware


def _running(
    url: str, store, zone: str, depth: float, reason: str | None = None, client: str = "P-0042"
) -> Pen:  # type: ignore[no-untyped-def]
    pen = Pen.open(url, role="clinician", operator="c1", pin="1234", client=client, db=store)
    pen.select_zone(zone, override_reason=reason)
    pen.set_depth(depth, override_reason=reason)
    pen.set_rate(100)
    pen.start()
    wait_for(lambda: fw(pen).needle_running, what="running")
    return pen


class _DepthWatch:
    """Samples the simulated pen every millisecond: the deepest actual depth while running."""

    def __init__(self, pen: Pen) -> None:
        self.pen = pen
        self.deepest_running = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        live = self.pen.port.pen
        while not self._stop.is_set():
            running, actual = live.call(
                lambda sim: (sim.firmware.needle_running, sim.firmware.depth_actual_um)
            )
            if running:
                self.deepest_running = max(self.deepest_running, actual)
            time.sleep(0.001)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(1.0)
        return self.deepest_running


def test_an_estop_sent_into_a_20ms_cut_stops_the_needle(store) -> None:  # type: ignore[no-untyped-def]
    with _running("sim://?seed=21", store, "cheeks", 1.0) as pen:
        pen.port.pen.command("cut 20ms")
        pen.estop()
        time.sleep(1.5)
        assert fw(pen).estop_latched and not fw(pen).needle_running
        assert not pen.estop_pending


def test_a_zone_change_right_after_a_clamp_does_not_raise_the_depth(store) -> None:  # type: ignore[no-untyped-def]
    for seed in range(5):
        url = f"sim://?seed={30 + seed}"
        with _running(url, store, "stretch_marks", 1.0, client=f"P-{seed}") as pen:
            pen.select_zone("periorbital")
            pen.select_zone("forehead")  # at once: the last STATUS still says 1.00 mm
            assert fw(pen).depth_set_um == 300


def test_start_after_a_deep_session_waits_for_the_needle(store) -> None:  # type: ignore[no-untyped-def]
    reason = "deep stretch marks"
    with _running("sim://?seed=41", store, "stretch_marks", 3.0, reason) as pen:
        wait_for(lambda: fw(pen).depth_actual_um >= 2950, timeout=2.0, what="3.00 mm")
        pen.stop()
        pen.select_zone("periorbital")
        watch = _DepthWatch(pen)
        pen.start()
        time.sleep(0.4)
        deepest = watch.stop()
        assert fw(pen).needle_running
        assert deepest <= 300 + DEPTH_TOLERANCE_UM, f"the needle ran at up to {deepest} µm"
