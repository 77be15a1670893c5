"""The benchmark framework (benchmarks/common.py, python -m benchmarks): rows, verdicts, the
table, and the rule that a missed target is a figure, not a failure. The benchmarks
themselves are not run here (they measure; they do not test)."""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Callable

import pytest

from benchmarks import __main__ as bench_main
from benchmarks.common import Row, best_rate, chunks, interleaved, render


def test_ratio_and_verdicts() -> None:
    fast = Row("codec", "decode", 600.0, "frames/s", "peer", 100.0, target_ratio=5)
    slow = Row("codec", "decode", 400.0, "frames/s", "peer", 100.0, target_ratio=5)
    assert fast.ratio == 6.0 and fast.met is True
    assert slow.ratio == 4.0 and slow.met is False
    latency = Row("estop", "latency", 2.0, "ms", "pty echo", 1.0, better="lower", target_value=5)
    assert latency.met is True and latency.ratio == 2.0
    assert Row("x", "y", 1.0, "s", better="lower", target_value=0.5).met is False
    assert Row("x", "y", 1.0, "s").met is None  # no target
    assert Row("x", "y", 1.0, "s", target_ratio=2).met is None  # no baseline
    assert Row("x", "y", 1.0, "s", "peer", 0.0, target_ratio=2).ratio is None
    assert Row("x", "y", math.nan, "s", "peer", 1.0, target_ratio=2).met is None


def test_table_has_every_column_and_says_when_a_target_was_missed() -> None:
    rows = [
        Row(
            "codec", "STATUS decode", 456_789.0, "frames/s", "pymavlink", 123_456.0, target_ratio=5
        ),
        Row("codec", "STATUS encode", 200_000.0, "frames/s", "pymavlink", 100_000.0),
    ]
    text = render(rows)
    head, _, first, second = text.splitlines()
    for heading in ("benchmark", "metric", "ours", "baseline", "unit", "ratio", "target", "met"):
        assert heading in head
    assert "456,789" in first and "123,456" in first and "3.70x" in first
    assert "≥ 5x baseline" in first and "NO (missed)" in first
    assert "2.00x" in second and second.rstrip().endswith("-")
    md = render(rows, markdown=True).splitlines()
    assert md[0].startswith("| benchmark |") and md[1].startswith("|---")
    assert len(md) == 4


def test_helpers() -> None:
    assert chunks(b"abcdefg", 3) == [b"abc", b"def", b"g"]
    assert best_rate(lambda: None, 10, repeat=2) > 0
    calls: list[str] = []

    def measure(name: str, value: float) -> tuple[str, Callable[[], float]]:
        def run() -> float:
            calls.append(name)
            return value

        return name, run

    got = interleaved([measure("a", 1.0), measure("b", 2.0)], rounds=2)
    assert got == {"a": 1.0, "b": 2.0}
    assert calls == ["a", "b", "a", "b"]


@pytest.fixture
def fake_benchmarks(monkeypatch: pytest.MonkeyPatch) -> None:
    good = types.ModuleType("benchmarks.bench_zz_good")
    good.run = lambda: [Row("zz", "m", 1.0, "x/s", "floor", 2.0, target_ratio=1)]  # type: ignore[attr-defined]
    bad = types.ModuleType("benchmarks.bench_zz_bad")

    def explode() -> list[Row]:
        raise RuntimeError("no peer")

    bad.run = explode  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "benchmarks.bench_zz_good", good)
    monkeypatch.setitem(sys.modules, "benchmarks.bench_zz_bad", bad)
    monkeypatch.setattr(bench_main, "available", lambda: ["zz_bad", "zz_good"])


@pytest.mark.usefixtures("fake_benchmarks")
def test_missed_target_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main.main(["zz_good"]) == 0
    out = capsys.readouterr().out
    assert "NO (missed)" in out and "1 target(s) missed" in out


@pytest.mark.usefixtures("fake_benchmarks")
def test_broken_benchmark_exits_1_after_the_others_ran(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main.main(["bench_zz_bad", "zz_good"]) == 1
    captured = capsys.readouterr()
    assert "zz_bad failed: no peer" in captured.err
    assert "zz" in captured.out and "floor" in captured.out


@pytest.mark.usefixtures("fake_benchmarks")
def test_unknown_name_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main.main(["nope"]) == 2
    assert "no benchmark named nope" in capsys.readouterr().err


def test_codec_benchmark_is_discovered() -> None:
    assert "codec" in bench_main.available()
