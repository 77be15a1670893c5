"""The soak benchmark's own machinery (benchmarks/bench_soak.py), on seconds of pen time: its
figures must be right before its hours mean anything."""

from __future__ import annotations

import pytest

from benchmarks import bench_soak
from benchmarks.bench_soak import TELEMETRY_HZ, Soak

PEN_HOURS = 12 / 3600  # 12 s of pen time: one depth change, 2400 STATUS frames


@pytest.mark.parametrize("side", ["driver", "bare"])
def test_a_short_soak_counts_every_frame_and_keeps_treating(side: str) -> None:
    result = bench_soak.SIDES[side](PEN_HOURS)
    due = round(PEN_HOURS * 3600 * TELEMETRY_HZ)
    # start-up (handshake, first commands) and the last poll add a few frames
    assert due <= result.status_frames <= due + 5, (result.status_frames, due)
    assert result.frames_lost == 0 and result.invalid_frames == 0
    assert result.depth_changes == 1
    assert result.still_running
    if side == "driver":
        assert result.audit_records > 10 and result.store_bytes > 0
        assert result.link_status_gaps == 0


def test_rows_carry_a_baseline_and_targets() -> None:
    ours = Soak("driver", 8.0, 600.0, 5_760_000, 0, 0, 2880, 50.0, 52.0, 1000, 1100, 2**20, 9000)
    base = Soak("bare", 8.0, 300.0, 5_760_000, 0, 0, 2880, 40.0, 40.5, 900, 905)
    rows = {r.metric: r for r in bench_soak.rows(ours, base)}
    assert rows["wall time for 8 h of pen time"].ratio == 2.0
    assert rows["pen time per wall second"].ours == pytest.approx(48.0)
    growth = rows["RSS growth, 10 % to end"]
    assert growth.ours == 2.0 and growth.baseline_value == 0.5 and growth.met is True
    assert rows["frames lost, pen to host"].met is True
    assert rows["audit store size"].ours == 1024.0
    lossy = Soak("driver", 8.0, 600.0, 5_759_990, 10, 0, 2880, 50.0, 90.0, 1000, 1100)
    lossy_rows = {r.metric: r for r in bench_soak.rows(lossy, base)}
    assert lossy_rows["frames lost, pen to host"].met is False
    assert lossy_rows["RSS growth, 10 % to end"].met is False


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "eight", "1000"])
def test_a_bad_soak_length_is_one_sentence(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(bench_soak.HOURS_ENV, text)
    with pytest.raises(ValueError, match=r"^NEEDLEPEN_SOAK_HOURS must be .*\.$"):
        bench_soak.hours()


def test_soak_length_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bench_soak.HOURS_ENV, raising=False)
    assert bench_soak.hours() == bench_soak.DEFAULT_HOURS
    monkeypatch.setenv(bench_soak.HOURS_ENV, "8")
    assert bench_soak.hours() == 8.0
