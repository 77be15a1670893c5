"""Override reasons must say something (issue 11 item 3), and absurd numbers still get a
decision (item 6): one rule, `check_override_reason`, for the governor, the API and the TUI."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.audit import AuditStore
from driver.safety import (
    MIN_REASON_CHARS,
    REASON_RULE,
    DeviceLimits,
    Governor,
    Outcome,
    Request,
    check_override_reason,
    screening,
)
from driver.safety.policy import default_policy

GOV = Governor(default_policy())


def deep(reason: str | None, depth: float = 1.5) -> Request:
    return Request("clinician", "cheeks", depth, 100, DeviceLimits(), reason, None)


@pytest.mark.parametrize(
    "reason",
    ["ab", "  ", "...", "\u200b\u200b\u200b", "a\u200bb", "\x00\x01\x02", "!!! ??", "a \n b"],
)
def test_reasons_without_three_letters_or_digits_lift_nothing(reason: str) -> None:
    assert check_override_reason(reason) is None
    decision = GOV.decide(deep(reason))
    assert not decision.sendable and decision.depth_um is None
    if reason.strip():
        assert decision.reasons == (REASON_RULE,)


@pytest.mark.parametrize("reason", ["abc", "1 2 3", "scar revision", "疤痕修", "\u200bdeep scars"])
def test_visible_reasons_lift_the_recommended_max(reason: str) -> None:
    decision = GOV.decide(deep(reason))
    assert decision.outcome is Outcome.ALLOWED and decision.depth_um == 1500
    assert decision.override_reason == check_override_reason(reason)
    assert "\u200b" not in (decision.override_reason or "")


@given(st.text(max_size=60))
def test_the_rule_is_the_count_of_letters_and_digits(text: str) -> None:
    kept = [ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf") and not ch.isspace()]
    visible = sum(1 for ch in kept if unicodedata.category(ch)[0] in "LN")
    result = check_override_reason(text)
    assert (result is not None) == (visible >= MIN_REASON_CHARS)
    if result is not None:
        assert all(unicodedata.category(ch) not in ("Cc", "Cf") for ch in result)
        assert result == result.strip()


def test_a_screening_acknowledgement_follows_the_same_rule(tmp_path) -> None:
    store = AuditStore(tmp_path / "a.db", scrypt_n=16)
    store.add_operator("c1", "C", "clinician", "1234")
    sid = store.begin_session(
        role="clinician",
        operator_id="c1",
        client_ref="P-1",
        device_serial=1,
        boot_id=1,
        device_class="professional",
    )
    answers = dict.fromkeys(screening.KEYS, False) | {"cold_sores": True}
    result = screening.record(store, sid, answers, "clinician")
    before = len(store.records())
    with pytest.raises(screening.ScreeningError, match="at least 3 letters"):
        screening.acknowledge(store, sid, result, "c1", "1234", "\u200b.\u200b")
    assert len(store.records()) == before
    store.close()


@pytest.mark.parametrize(
    "huge", [10**5000, -(10**5000), 10**400, 2**64], ids=["1e5000", "-1e5000", "1e400", "2^64"]
)
def test_huge_integers_get_a_decision(huge: int) -> None:
    for request in (
        Request("clinician", "cheeks", huge, 100, DeviceLimits()),
        Request("clinician", "cheeks", 1.0, huge, DeviceLimits()),
        Request("clinician", "cheeks", 1.0, 100, DeviceLimits(), None, huge),
        Request("home", "forehead", huge, huge, DeviceLimits.home(), "abc", huge),
    ):
        decision = GOV.decide(request)
        assert decision.reasons and all(
            isinstance(r, str) and len(r) < 400 for r in decision.reasons
        )
        assert "a int" not in " ".join(decision.reasons)
        if decision.depth_um is not None:
            assert decision.depth_um <= 2000
