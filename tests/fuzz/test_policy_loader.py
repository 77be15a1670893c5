"""Bounded fuzzing of the policy loader inside `make test`: garbage bytes, generated TOML
documents over the policy's keys with edge values, and the shipped default with one value
changed, all through `load_policy` (the file path the CLI uses) with the checks of targets.py.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from driver.safety.policy import (
    ROLE_NAMES,
    ZONE_NAMES,
    Policy,
    PolicyError,
    default_policy,
    default_policy_text,
    load_policy_text,
)
from driver.testing.strategies import odd_numbers
from tests.fuzz.targets import check_policy, policy_loader

ROLE_KEYS = ["max_depth_mm", "rate_min_hz", "rate_max_hz", "zones"]
ZONE_KEYS = ["recommended_max_mm", "hard_max_mm"]

edge_numbers = st.one_of(
    st.sampled_from(
        [
            0,
            -1,
            1,
            0.25,
            0.249,
            0.2499,
            0.5,
            0.999,
            0.9995,
            1.0,
            1.5,
            3.0,
            3.001,
            3.0000000001,
            27,
            28,
            365,
            366,
            150,
            151,
            2**63 - 1,
            -(2**63),
            1e308,
            5e-324,
            math.inf,
            -math.inf,
            math.nan,
        ]
    ),
    odd_numbers,
    st.integers(-(2**63), 2**63 - 1),
)
zone_lists = st.lists(st.sampled_from([*ZONE_NAMES, "nowhere", ""]), max_size=6)
values = st.one_of(
    edge_numbers,
    zone_lists,
    st.booleans(),
    st.text(max_size=12),
    st.lists(edge_numbers, max_size=3),
    st.just({"nested": 1}),
)


def toml_value(value: object) -> str:
    """A TOML literal for a generated value (TOML has inf and nan; Python's repr does not)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


@st.composite
def policy_documents(draw: st.DrawFn) -> str:
    """A TOML policy over the real keys (and some unknown ones), with edge values."""
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append(f"min_days_between_sessions = {toml_value(draw(values))}")
    tables = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("roles"), st.sampled_from([*ROLE_NAMES, "surgeon"])),
                st.tuples(st.just("zones"), st.sampled_from([*ZONE_NAMES, "elbow"])),
            ),
            max_size=4,
            unique=True,
        )
    )
    for group, name in tables:
        lines.append(f"[{group}.{name}]")
        keys = ROLE_KEYS if group == "roles" else ZONE_KEYS
        for key in draw(st.lists(st.sampled_from([*keys, "colour"]), max_size=4, unique=True)):
            value = draw(zone_lists) if key == "zones" and draw(st.booleans()) else draw(values)
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


@st.composite
def default_with_one_change(draw: st.DrawFn) -> str:
    """The shipped default policy with one of its numbers replaced by an edge value."""
    text = default_policy_text()
    spots = [m for m in _NUMBER.finditer(text) if not text[: m.start()].rstrip().endswith("#")]
    spot = draw(st.sampled_from(spots))
    return text[: spot.start()] + toml_value(draw(edge_numbers)) + text[spot.end() :]


@given(data=st.binary(max_size=600))
@example(data=b"\xff\xfe")  # not UTF-8
@example(data=b"[roles.home]\nmax_depth_mm = 1.0\n")
@example(data=b"[roles.home]\nmax_depth_mm = 0.9995\n")
@example(data=b"[roles.home]\nmax_depth_mm = nan\n")
@example(data=b"x = " + b"[" * 2000)  # nested too deep
@example(data=b"min_days_between_sessions = 1" + b"0" * 5000)  # a number too long to read
def test_loader_on_any_bytes(data: bytes) -> None:
    policy_loader(data)


@given(text=policy_documents())
def test_loader_on_generated_policies(text: str) -> None:
    policy_loader(text.encode("utf-8"))


@given(text=default_with_one_change())
def test_loader_on_the_default_with_one_value_changed(text: str) -> None:
    policy_loader(text.encode("utf-8"))


def test_a_tightened_policy_is_accepted_and_checked() -> None:
    """The fuzz oracle is not vacuous: real tightening passes through it."""
    policy_loader(
        b"min_days_between_sessions = 42\n"
        b"[roles.home]\nmax_depth_mm = 0.3\nrate_max_hz = 100\n"
        b"[zones.cheeks]\nrecommended_max_mm = 0.8\nhard_max_mm = 1.5\n"
    )
    policy = load_policy_text("[roles.home]\nmax_depth_mm = 0.3\n")
    assert policy.role("home").max_depth_mm == 0.3


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("roles", {"home": {"max_depth_mm": 1.0}}),
        ("zones", {"forehead": {"recommended_max_mm": 0.75, "hard_max_mm": 0.5}}),
        ("roles", {"clinician": {"max_depth_mm": 3.5}}),
        ("roles", {"aesthetician": {"zones": ["bench"]}}),
    ],
)
def test_the_oracle_catches_a_loosened_policy(where: str, change: dict[str, object]) -> None:
    """A policy built without validation that breaks a ceiling fails check_policy (so the
    oracle would report a loader that let it through), and the loader refuses it."""
    data = default_policy().model_dump()
    for name, fields in change.items():
        data[where][name].update(fields)  # type: ignore[attr-defined]
    loosened = Policy.model_construct(
        min_days_between_sessions=data["min_days_between_sessions"],
        roles=type(default_policy().roles).model_construct(
            **{
                k: type(default_policy().role(k)).model_construct(**v)
                for k, v in data["roles"].items()
            }
        ),
        zones=type(default_policy().zones).model_construct(
            **{
                k: type(default_policy().zone(k)).model_construct(**v)
                for k, v in data["zones"].items()
            }
        ),
    )
    with pytest.raises(AssertionError):
        check_policy(loosened)
    lines = []
    for name, fields in change.items():
        lines.append(f"[{where}.{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in fields.items()]
    with pytest.raises(PolicyError):
        load_policy_text("\n".join(lines) + "\n")
