"""The --fault SPEC language: every documented form, and one sentence for anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import FaultSpecError
from simulator.faults import LinkFault, PenFault, Sender, parse_fault, parse_faults

BOTH = (Sender.HOST, Sender.PEN)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("drop=0.05", LinkFault("drop", BOTH, 0.05, 0.0, "drop=0.05")),
        ("drop:host=0.1", LinkFault("drop", (Sender.HOST,), 0.1, 0.0, "drop:host=0.1")),
        ("corrupt:pen=0.01", LinkFault("corrupt", (Sender.PEN,), 0.01, 0.0, "corrupt:pen=0.01")),
        ("dup=0.02", LinkFault("dup", BOTH, 0.02, 0.0, "dup=0.02")),
        ("dup=5%", LinkFault("dup", BOTH, 0.05, 0.0, "dup=5%")),
        ("delay=0.1:20ms", LinkFault("delay", BOTH, 0.1, 20.0, "delay=0.1:20ms")),
        ("delay:pen=1:1.5s", LinkFault("delay", (Sender.PEN,), 1.0, 1500.0, "delay:pen=1:1.5s")),
        ("drop=0", LinkFault("drop", BOTH, 0.0, 0.0, "drop=0")),
        ("drop=1", LinkFault("drop", BOTH, 1.0, 0.0, "drop=1")),
        ("overheat@5s", PenFault("overheat", 5000.0, spec="overheat@5s")),
        ("overheat", PenFault("overheat", 0.0, spec="overheat")),
        ("stall@2s", PenFault("stall", 2000.0, spec="stall@2s")),
        ("depth-fault@250ms", PenFault("depth-fault", 250.0, spec="depth-fault@250ms")),
        (
            "remove-cartridge@10s",
            PenFault("remove-cartridge", 10_000.0, spec="remove-cartridge@10s"),
        ),
        ("remove@1min", PenFault("remove-cartridge", 60_000.0, spec="remove@1min")),
        (
            "insert-cartridge@12s",
            PenFault("insert-cartridge", 12_000.0, spec="insert-cartridge@12s"),
        ),
        ("reinsert@12s", PenFault("reinsert-cartridge", 12_000.0, spec="reinsert@12s")),
        ("reboot@30s", PenFault("reboot", 30_000.0, spec="reboot@30s")),
        ("cut@3s:1s", PenFault("cut", 3000.0, duration_ms=1000.0, spec="cut@3s:1s")),
        ("battery=8", PenFault("battery", 0.0, value=8.0, spec="battery=8")),
        ("battery=0", PenFault("battery", 0.0, value=0.0, spec="battery=0")),
        ("battery=100@2s", PenFault("battery", 2000.0, value=100.0, spec="battery=100@2s")),
        ("  Overheat@5S ", PenFault("overheat", 5000.0, spec="Overheat@5S")),
    ],
)
def test_documented_forms(spec: str, expected: object) -> None:
    assert parse_fault(spec) == expected


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("", "empty"),
        ("bogus", "not understood"),
        ("drop", "not understood"),
        ("drop=", "probability"),
        ("drop=1.01", "from 0 to 1"),
        ("drop=-0.1", "probability"),
        ("drop=nan", "probability"),
        ("drop=inf", "probability"),
        ("drop=101%", "from 0 to 1"),
        ("drop:both=0.1", "not understood"),
        ("delay=0.1", "duration"),
        ("delay=0.1:20", "unit"),
        ("delay=0.1:2h", "unit"),
        ("delay=0.1:61s", "longer than"),
        ("overheat@5", "unit"),
        ("overheat@", "unit"),
        ("overheat@-1s", "unit"),
        ("overheat@99999min", "longer than"),
        ("cut@3s", "duration"),
        ("cut", "cut@TIME:DURATION"),
        ("cut@3s:0s", "longer than 0"),
        ("battery=101", "0 to 100"),
        ("battery=-1", "0 to 100"),
        ("battery=abc", "0 to 100"),
        ("battery", "battery=PCT"),
        ("x" * 500, "longer than"),
    ],
)
def test_bad_specs_are_refused_with_one_sentence(spec: str, words: str) -> None:
    with pytest.raises(FaultSpecError, match=words) as info:
        parse_fault(spec)
    text = str(info.value)
    assert text[0].isupper() and text.endswith(".") and "\n" not in text


def test_non_text_is_refused() -> None:
    with pytest.raises(FaultSpecError, match="must be text"):
        parse_fault(5)  # type: ignore[arg-type]


def test_parse_faults_is_all_or_nothing() -> None:
    assert len(parse_faults(("drop=0.1", "overheat@1s"))) == 2
    with pytest.raises(FaultSpecError):
        parse_faults(("drop=0.1", "nonsense"))


@given(st.text(max_size=60))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        fault = parse_fault(text)
    except FaultSpecError as exc:
        assert str(exc).endswith(".")
        return
    if isinstance(fault, LinkFault):
        assert 0.0 <= fault.probability <= 1.0
        assert fault.senders
    else:
        assert fault.at_ms >= 0 and 0 <= fault.value <= 100


@given(
    kind=st.sampled_from(["drop", "corrupt", "dup"]),
    sender=st.sampled_from(["", ":host", ":pen"]),
    p=st.floats(min_value=0, max_value=1),
)
def test_every_probability_round_trips(kind: str, sender: str, p: float) -> None:
    fault = parse_fault(f"{kind}{sender}={p:.6f}")
    assert isinstance(fault, LinkFault)
    assert fault.probability == pytest.approx(p, abs=1e-6)
