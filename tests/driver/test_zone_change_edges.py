"""A zone change, edge by edge, on the virtual pen: it only ever lowers the depth, never above
the set-point the pen really holds, and the zone changes only once the pen has the lower
depth (the Bench of test_command_path_edges.py: the real store, watched)."""

from __future__ import annotations

from tests.driver.test_command_path_edges import Bench, bench

__all__ = ["bench"]


def test_a_zone_change_to_a_shallower_zone_lowers_the_depth_first(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(0.9)
    pen.select_zone("forehead")
    assert pen.zone == "forehead"
    (seq,) = bench.pen_got("SET_DEPTH")[-1:]
    assert bench.fw.depth_set_um < 900 and seq > 0
