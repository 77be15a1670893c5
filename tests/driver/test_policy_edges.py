"""The policy's ceilings and cross-key rules at their edges (driver/safety/policy/bounds.py,
model.py, rules.py), as the mutation run of the `policy` group found them untested (docs/QA.md,
`make mutate`). Each test states what a clinic's file may say and what it may never say, one
step either side of each ceiling, and the one sentence that names the key and the rule.

mutmut does not mutate module constants (the ceilings in bounds.py, the model's config) nor
decorated functions (the cross-rule model validator, the micrometre properties), so the tests
marked "held here only" are what holds those: a file past each ceiling is refused, one at it is
accepted.

Fast on purpose: each case loads one small file over the default (tens of milliseconds)."""

from __future__ import annotations

import math
import tomllib
from typing import Any

import pytest
from pydantic import ValidationError

from driver.safety.policy import (
    DEPTH_CEILING_MAX_UM,
    DEPTH_CEILING_MIN_UM,
    HOME_DEPTH_LIMIT_UM,
    MAX_DAYS_SETTING,
    MAX_POLICY_BYTES,
    MIN_DAYS_CEILING,
    RATE_CEILING_MAX_HZ,
    RATE_CEILING_MIN_HZ,
    ROLE_NAMES,
    ZONE_NAMES,
    Policy,
    PolicyError,
    RoleLimits,
    ZoneLimits,
    default_policy,
    default_policy_text,
    load_policy,
    load_policy_text,
    mm_to_um_exact,
)

PRO_ZONES = [z for z in ZONE_NAMES if z != "bench"]


def refused(text: str) -> tuple[str, ...]:
    """The problems of a refused file (it must be refused)."""
    with pytest.raises(PolicyError) as info:
        load_policy_text(text)
    return info.value.problems


def concern(name: str = "test_concern", **over: object) -> str:
    """A [concerns.NAME] table that fits the default caps, with `over` replacing its keys."""
    table: dict[str, object] = {
        "label": "'test concern'",
        "roles": "['aesthetician', 'clinician']",
        "sessions": "[3, 4]",
        "interval_days": "[28, 42]",
        "rate_hz": "[90, 120]",
        "depth_mm": "{ cheeks = [0.5, 1.0] }",
    }
    table.update(over)
    body = "".join(f"{k} = {v}\n" for k, v in table.items())
    return f'[concerns."{name}"]\n{body}'


# --- The ceilings (bounds.py's constants: held here only) -----------------------------------------


def test_the_built_in_ceilings_are_the_documented_numbers() -> None:
    assert (DEPTH_CEILING_MIN_UM, DEPTH_CEILING_MAX_UM) == (250, 3000)
    assert HOME_DEPTH_LIMIT_UM == 1000
    assert (RATE_CEILING_MIN_HZ, RATE_CEILING_MAX_HZ) == (1, 150)
    assert (MIN_DAYS_CEILING, MAX_DAYS_SETTING) == (28, 365)
    assert MAX_POLICY_BYTES == 256 * 1024


def test_a_depth_past_the_hardware_range_is_refused_and_its_ends_are_accepted() -> None:
    p = load_policy_text(
        "[zones.stretch_marks]\nhard_max_mm = 3.0\n[zones.periorbital]\nrecommended_max_mm = 0.25\n"
    )
    assert p.zone("stretch_marks").hard_max_um == 3000
    assert p.zone("periorbital").recommended_max_um == 250
    assert refused("[zones.stretch_marks]\nhard_max_mm = 3.001\n") == (
        "zones.stretch_marks.hard_max_mm must be within the built-in range 0.25-3.00 mm "
        "(it is 3.001).",
    )
    assert refused("[zones.periorbital]\nrecommended_max_mm = 0.249\n") == (
        "zones.periorbital.recommended_max_mm must be within the built-in range 0.25-3.00 mm "
        "(it is 0.249).",
    )
    assert refused("[roles.clinician]\nmax_depth_mm = 3.001\n") == (
        "roles.clinician.max_depth_mm must be within the built-in range 0.25-3.00 mm "
        "(it is 3.001).",
    )


def test_a_home_cap_of_one_millimetre_is_refused_under_any_policy() -> None:
    assert load_policy_text("[roles.home]\nmax_depth_mm = 0.999\n").role("home").max_depth_um == 999
    assert refused("[roles.home]\nmax_depth_mm = 1.0\n") == (
        "roles.home.max_depth_mm must be below 1.00 mm under any policy (it is 1.00 mm).",
    )
    # past 1 mm the aesthetician's 1.0 mm is then below the home cap too: both are said
    assert refused("[roles.home]\nmax_depth_mm = 1.25\n") == (
        "roles.home.max_depth_mm must be below 1.00 mm under any policy (it is 1.25 mm).",
        "roles.aesthetician.max_depth_mm (1.00 mm) must not be below roles.home.max_depth_mm "
        "(1.25 mm): an aesthetician never gets less than a home.",
    )


def test_the_home_rule_holds_for_a_model_built_in_code_too() -> None:
    # the cross rules are a model validator: Policy.model_validate refuses as the loader does
    data = tomllib.loads(default_policy_text())
    data["roles"]["home"]["max_depth_mm"] = 1.0
    with pytest.raises(ValidationError) as info:
        Policy.model_validate(data)
    assert "roles.home.max_depth_mm must be below 1.00 mm under any policy" in str(info.value)
    data["roles"]["home"]["max_depth_mm"] = 0.999
    assert Policy.model_validate(data).role("home").max_depth_um == 999


def test_rates_are_whole_hertz_from_1_to_150() -> None:
    p = load_policy_text(
        "[roles.home]\nrate_min_hz = 1\n[roles.aesthetician]\nrate_min_hz = 1\n"
        "[roles.clinician]\nrate_min_hz = 1\n[roles.engineer]\nrate_max_hz = 150\n"
    )
    assert p.role("home").rate_min_hz == 1 and p.role("engineer").rate_max_hz == 150
    assert refused("[roles.engineer]\nrate_min_hz = 0\n") == (
        "roles.engineer.rate_min_hz must be within the built-in range 1-150 Hz (it is 0).",
    )
    assert refused("[roles.engineer]\nrate_max_hz = 151\n") == (
        "roles.engineer.rate_max_hz must be within the built-in range 1-150 Hz (it is 151).",
    )


@pytest.mark.parametrize("days", [28, 29, 364, 365])
def test_the_interval_may_be_28_to_365_days(days: int) -> None:
    p = load_policy_text(f"min_days_between_sessions = {days}\n")
    assert p.min_days_between_sessions == days


@pytest.mark.parametrize("days", [27, 366, 0, -28])
def test_an_interval_outside_28_to_365_days_is_refused(days: int) -> None:
    assert refused(f"min_days_between_sessions = {days}\n") == (
        "min_days_between_sessions must be a whole number of days from 28 to 365 (sessions on "
        f"one zone at least four weeks apart) (it is {days}).",
    )


def test_a_policy_text_is_at_most_256_kib() -> None:
    pad = "# " + "x" * (MAX_POLICY_BYTES - 3) + "\n"
    assert len(pad) == MAX_POLICY_BYTES
    assert load_policy_text(pad) == default_policy()
    assert refused(pad + "\n") == ("the text is larger than 256 KiB, too large for a policy.",)


def test_the_model_is_strict_closed_and_frozen() -> None:
    # model config (a module constant): held here only
    assert refused("[zones.neck]\nhard_max_mm = true\n")[0].startswith("zones.neck.hard_max_mm")
    assert refused("[roles.home]\nrate_max_hz = 100.0\n")[0].startswith("roles.home.rate_max_hz")
    assert refused("[zones.neck]\ndeep = 1\n")[0].startswith("zones.neck.deep is not a known")
    with pytest.raises(ValidationError):
        default_policy().role("home").max_depth_mm = 2.0  # type: ignore[misc]


# --- Field checks: depth, rate, days, zone lists -------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("nan", "must be a finite number of millimetres"),
        ("inf", "must be a finite number of millimetres"),
        ("-inf", "must be a finite number of millimetres"),
        ("1.2345", "must be a whole number of micrometres (at most three decimals)"),
        ("0.0005", "must be a whole number of micrometres (at most three decimals)"),
        ("-1.0", "must be within the built-in range 0.25-3.00 mm"),
        ("4", "must be within the built-in range 0.25-3.00 mm"),
    ],
)
def test_each_depth_check_says_its_rule_and_the_value(value: str, rule: str) -> None:
    shown = repr(tomllib.loads(f"v = {value}")["v"])
    assert refused(f"[zones.neck]\nhard_max_mm = {value}\n") == (
        f"zones.neck.hard_max_mm {rule} (it is {shown}).",
    )


def test_an_accepted_depth_keeps_its_value_as_a_float() -> None:
    p = load_policy_text("[zones.neck]\nhard_max_mm = 2\n")
    assert p.zone("neck").hard_max_mm == 2.0 and isinstance(p.zone("neck").hard_max_mm, float)
    assert p.zone("neck").hard_max_um == 2000


def test_a_zone_list_is_kept_in_canonical_order_without_repeats() -> None:
    p = load_policy_text("[roles.home]\nzones = ['neck', 'forehead', 'cheeks']\n")
    assert p.role("home").zones == ("forehead", "cheeks", "neck")
    assert load_policy_text("[roles.home]\nzones = []\n").role("home").zones == ()
    assert refused("[roles.home]\nzones = ['neck', 'lips', 'chin']\n") == (
        "roles.home.zones names 'lips', which is not a known zone (it is ['neck', 'lips', "
        "'chin']).",
    )
    assert refused("[roles.home]\nzones = ['neck', 'cheeks', 'neck']\n") == (
        "roles.home.zones names a zone more than once (it is ['neck', 'cheeks', 'neck']).",
    )


# --- How a value is shown in a sentence: at most 40 characters ----------------------------------


@pytest.mark.parametrize(
    ("length", "shown"),
    [(38, "'" + "a" * 38 + "'"), (39, "'" + "a" * 36 + "..."), (1, "'a'")],
)
def test_a_value_is_shown_whole_up_to_40_characters_then_cut_with_dots(
    length: int, shown: str
) -> None:
    assert refused(f"[zones.neck]\nhard_max_mm = '{'a' * length}'\n") == (
        f"zones.neck.hard_max_mm must be a number of millimetres (it is {shown}).",
    )
    assert len(shown) <= 40


# --- Where a refusal comes from --------------------------------------------------------------


def test_a_refusal_names_the_file_it_came_from(tmp_path: Any) -> None:
    path = tmp_path / "clinic.toml"
    path.write_text("[roles.home]\nmax_depth_mm = 1.0\n")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.source == str(path)
    assert str(info.value) == (
        f"policy file {path} refused: roles.home.max_depth_mm must be below 1.00 mm under any "
        "policy (it is 1.00 mm)."
    )


def test_a_refused_text_without_a_source_says_policy_refused() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_text("[roles.home]\nmax_depth_mm = 1.0\n")
    assert info.value.source is None
    assert str(info.value) == (
        "policy refused: roles.home.max_depth_mm must be below 1.00 mm under any policy "
        "(it is 1.00 mm)."
    )
    assert str(PolicyError([])) == "policy refused: the policy is not valid."
    assert PolicyError([], "x.toml").problems == ("the policy is not valid.",)


# --- Cross-key rules ------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["forehead", "neck", "stretch_marks", "bench"])
def test_a_zones_recommended_max_may_reach_but_not_pass_its_hard_max(zone: str) -> None:
    hard = default_policy().zone(zone).hard_max_um
    lower = f"{(hard - 1) / 1000:.3f}"
    at = load_policy_text(f"[zones.{zone}]\nrecommended_max_mm = {hard / 1000}\n")
    assert at.zone(zone).recommended_max_um == at.zone(zone).hard_max_um == hard
    text = f"[zones.{zone}]\nrecommended_max_mm = {hard / 1000}\nhard_max_mm = {lower}\n"
    shown_hard = f"{(hard - 1) / 1000:.3f}"
    assert refused(text) == (
        f"zones.{zone}.recommended_max_mm ({hard / 1000:.2f} mm) must not be above "
        f"zones.{zone}.hard_max_mm ({shown_hard} mm).",
    )


@pytest.mark.parametrize(("role", "rmin"), [("home", 120), ("engineer", 150)])
def test_a_roles_lowest_rate_may_reach_but_not_pass_its_highest(role: str, rmin: int) -> None:
    assert (
        load_policy_text(f"[roles.{role}]\nrate_min_hz = {rmin}\n").role(role).rate_min_hz == rmin
    )
    text = f"[roles.{role}]\nrate_min_hz = {rmin}\nrate_max_hz = {rmin - 1}\n"
    problems = refused(text)
    assert problems[0] == (
        f"roles.{role}.rate_min_hz ({rmin} Hz) must not be above roles.{role}.rate_max_hz "
        f"({rmin - 1} Hz)."
    )


def test_the_engineer_works_on_the_bench_only() -> None:
    assert load_policy_text("[roles.engineer]\nzones = []\n").role("engineer").zones == ()
    for zones in ("['bench', 'neck']", "['neck']"):
        assert refused(f"[roles.engineer]\nzones = {zones}\n") == (
            "roles.engineer.zones may name only the bench zone: engineers never treat skin.",
        )


@pytest.mark.parametrize("role", ["home", "aesthetician", "clinician"])
def test_no_role_that_treats_people_may_name_the_bench(role: str) -> None:
    zones = [*default_policy().role(role).zones, "bench"]
    problems = refused(f"[roles.{role}]\nzones = {zones!r}\n")
    assert problems[0] == (
        f"roles.{role}.zones must not name the bench zone, which is for engineers only."
    )


def test_a_clinician_never_gets_less_depth_than_an_aesthetician() -> None:
    assert load_policy_text("[roles.clinician]\nmax_depth_mm = 1.0\n")
    assert refused("[roles.clinician]\nmax_depth_mm = 0.999\n") == (
        "roles.clinician.max_depth_mm (0.999 mm) must not be below "
        "roles.aesthetician.max_depth_mm (1.00 mm): a clinician never gets less than an "
        "aesthetician.",
    )


def test_an_aesthetician_never_gets_less_depth_than_a_home_user() -> None:
    assert load_policy_text("[roles.aesthetician]\nmax_depth_mm = 0.5\n")
    assert refused("[roles.aesthetician]\nmax_depth_mm = 0.49\n") == (
        "roles.aesthetician.max_depth_mm (0.49 mm) must not be below roles.home.max_depth_mm "
        "(0.50 mm): an aesthetician never gets less than a home.",
    )


def test_a_higher_role_never_gets_a_lower_top_rate() -> None:
    assert load_policy_text("[roles.aesthetician]\nrate_max_hz = 120\n")
    assert refused("[roles.aesthetician]\nrate_max_hz = 119\n") == (
        "roles.aesthetician.rate_max_hz (119 Hz) must not be below roles.home.rate_max_hz "
        "(120 Hz): an aesthetician never gets less than a home.",
    )
    assert refused("[roles.clinician]\nrate_max_hz = 149\n") == (
        "roles.clinician.rate_max_hz (149 Hz) must not be below roles.aesthetician.rate_max_hz "
        "(150 Hz): a clinician never gets less than an aesthetician.",
    )


def test_a_higher_role_never_gets_a_higher_lowest_rate() -> None:
    assert load_policy_text("[roles.clinician]\nrate_min_hz = 24\n")
    assert refused("[roles.clinician]\nrate_min_hz = 26\n") == (
        "roles.clinician.rate_min_hz (26 Hz) must not be above roles.aesthetician.rate_min_hz "
        "(25 Hz): a clinician never gets less than an aesthetician.",
    )
    assert refused("[roles.home]\nrate_min_hz = 24\n") == (
        "roles.aesthetician.rate_min_hz (25 Hz) must not be above roles.home.rate_min_hz "
        "(24 Hz): an aesthetician never gets less than a home.",
    )


def test_a_higher_role_treats_every_zone_of_the_role_below() -> None:
    p = load_policy_text("[roles.home]\nzones = ['neck']\n")
    assert p.role("home").zones == ("neck",)
    kept = [z for z in PRO_ZONES if z not in ("nose", "hands")]
    assert refused(f"[roles.clinician]\nzones = {kept!r}\n") == (
        "roles.clinician.zones must include every zone of roles.aesthetician.zones "
        "(missing: nose, hands): a clinician never gets less than an aesthetician.",
    )
    assert refused(f"[roles.aesthetician]\nzones = {kept!r}\n") == (
        "roles.aesthetician.zones must include every zone of roles.home.zones "
        "(missing: nose, hands): an aesthetician never gets less than a home.",
    )


def test_every_broken_rule_is_listed_in_order() -> None:
    text = (
        "[roles.home]\nmax_depth_mm = 1.0\n"
        "[zones.neck]\nrecommended_max_mm = 1.6\n"
        "[roles.engineer]\nrate_min_hz = 100\nrate_max_hz = 99\nzones = ['neck']\n"
    )
    assert refused(text) == (
        "roles.home.max_depth_mm must be below 1.00 mm under any policy (it is 1.00 mm).",
        "zones.neck.recommended_max_mm (1.60 mm) must not be above zones.neck.hard_max_mm "
        "(1.50 mm).",
        "roles.engineer.rate_min_hz (100 Hz) must not be above roles.engineer.rate_max_hz (99 Hz).",
        "roles.engineer.zones may name only the bench zone: engineers never treat skin.",
    )


# --- Looking a role or zone up --------------------------------------------------------------


def test_a_role_or_zone_is_looked_up_by_its_name_only() -> None:
    p = default_policy()
    for name in ROLE_NAMES:
        assert p.role(name) is getattr(p.roles, name)
        assert isinstance(p.role(name), RoleLimits)
    for zone in ZONE_NAMES:
        assert p.zone(zone) is getattr(p.zones, zone)
        assert isinstance(p.zone(zone), ZoneLimits)
    for bad in ("surgeon", "model_config", "home ", "neck"):
        with pytest.raises(KeyError) as info:
            p.role(bad)
        assert info.value.args == (bad,)
    for bad in ("lips", "model_fields", "home"):
        with pytest.raises(KeyError) as info:
            p.zone(bad)
        assert info.value.args == (bad,)


def test_a_model_built_without_validation_cannot_give_a_cap_in_micrometres() -> None:
    z = ZoneLimits.model_construct(recommended_max_mm=0.1234, hard_max_mm=math.nan)
    with pytest.raises(ValueError) as info:
        _ = z.recommended_max_um
    assert str(info.value) == "0.1234 mm is not a whole number of micrometres"


# --- mm -> um, exactly as typed --------------------------------------------------------------


@pytest.mark.parametrize(
    ("mm", "um"),
    [
        (0.3, 300),
        (0.25, 250),
        (1.005, 1005),
        (2.675, 2675),
        (-0.5, -500),
        (0.0, 0),
        (3, 3000),
        (0, 0),
        (-2, -2000),
        (2**60 + 1, (2**60 + 1) * 1000),  # an int is exact, past any float
        (10**400, 10**403),
        (1e20, 10**23),
    ],
)
def test_mm_to_um_exact_converts_whole_micrometres(mm: float, um: int) -> None:
    got = mm_to_um_exact(mm)
    assert got == um and type(got) is int


@pytest.mark.parametrize(
    "mm", [0.1 + 0.2, 0.0005, 1.2345, math.nan, math.inf, -math.inf, True, False, "1.0", None]
)
def test_mm_to_um_exact_is_none_for_anything_not_a_whole_micrometre(mm: Any) -> None:
    assert mm_to_um_exact(mm) is None


# --- The concern library ----------------------------------------------------------------------


def test_a_concern_that_fits_is_accepted() -> None:
    p = load_policy_text(concern())
    c = p.concerns["test_concern"]
    assert c.label == "test concern" and c.depth_mm == {"cheeks": [0.5, 1.0]}


@pytest.mark.parametrize(
    "name", ["", "0abc", "1abc", "_abc", "Acne", "acne-scars", "acne scars", "aé"]
)
def test_a_concern_name_is_lower_case_letters_digits_and_underscores_from_a_letter(
    name: str,
) -> None:
    assert refused(concern(name)) == (
        f"concerns.{name} is not a concern name: use lower-case letters, digits and '_', "
        "starting with a letter.",
    )


@pytest.mark.parametrize("name", ["a", "z9", "acne_scars_2", "b_"])
def test_good_concern_names_are_accepted(name: str) -> None:
    assert name in load_policy_text(concern(name)).concerns


def test_every_bad_concern_is_named_not_only_the_first() -> None:
    long = "Z" * 45
    text = concern(long) + concern("ok_name", label="''")
    assert refused(text) == (
        f"concerns.{long[:40]} is not a concern name: use lower-case letters, digits and '_', "
        "starting with a letter.",
        "concerns.ok_name.label must be 1 to 40 printable characters.",
    )


@pytest.mark.parametrize(
    "label", ["''", "'   '", "'" + "x" * 41 + "'", '"tab\\there"', '"bell\\u0007"']
)
def test_a_label_is_1_to_40_printable_characters(label: str) -> None:
    assert refused(concern(label=label)) == (
        "concerns.test_concern.label must be 1 to 40 printable characters.",
    )


def test_a_label_of_40_characters_is_accepted() -> None:
    label = "x" * 40
    assert load_policy_text(concern(label=f"'{label}'")).concerns["test_concern"].label == label


@pytest.mark.parametrize("role", ["engineer", "surgeon"])
def test_a_concern_is_for_roles_that_treat_people(role: str) -> None:
    assert refused(concern(roles=f"['clinician', '{role}']")) == (
        f"concerns.test_concern.roles names '{role}', which is not a role that treats people.",
    )


@pytest.mark.parametrize(
    ("key", "pair", "rule"),
    [
        ("sessions", "[0, 3]", "within 1-12 sessions"),
        ("sessions", "[3, 13]", "within 1-12 sessions"),
        ("sessions", "[4, 3]", "within 1-12 sessions"),
        ("interval_days", "[27, 42]", "within 28-365 days"),
        ("interval_days", "[28, 366]", "within 28-365 days"),
        ("interval_days", "[42, 28]", "within 28-365 days"),
        ("rate_hz", "[0, 120]", "within 1-150 Hz"),
        ("rate_hz", "[90, 151]", "within 1-150 Hz"),
        ("rate_hz", "[120, 90]", "within 1-150 Hz"),
    ],
)
def test_a_concerns_ranges_run_upwards_within_their_ceilings(
    key: str, pair: str, rule: str
) -> None:
    lo, hi = (int(x) for x in pair.strip("[]").split(","))
    problems = refused(concern(**{key: pair}))
    assert problems[0].startswith(
        f"concerns.test_concern.{key} ({lo}-{hi}) must run upwards {rule}"
    )


@pytest.mark.parametrize(
    ("key", "pair"),
    [("sessions", "[1, 12]"), ("sessions", "[5, 5]"), ("interval_days", "[28, 365]")],
)
def test_a_concerns_ranges_may_reach_their_ceilings(key: str, pair: str) -> None:
    load_policy_text(concern(**{key: pair}))


def test_the_interval_range_sentence_names_its_unit_and_why() -> None:
    assert refused(concern(interval_days="[27, 42]")) == (
        "concerns.test_concern.interval_days (27-42) must run upwards within 28-365 days "
        "(a longer min_days_between_sessions moves the window's start).",
    )


def test_a_concern_names_at_least_one_zone() -> None:
    assert refused(concern(depth_mm="{}")) == (
        "concerns.test_concern.depth_mm must name at least one zone.",
    )


@pytest.mark.parametrize("zone", ["bench", "lips", "z" * 45])
def test_a_concerns_zones_are_treatment_zones_of_skin_and_each_is_judged(zone: str) -> None:
    text = concern(roles="['clinician']", depth_mm=f"{{ {zone} = [0.5, 1.0], neck = [0.2, 1.0] }}")
    assert refused(text) == (
        f"concerns.test_concern.depth_mm.{zone[:40]} is not a treatment zone of skin.",
        "concerns.test_concern.depth_mm.neck (0.2-1.0) must run upwards in whole micrometres "
        "within 0.25-3.00 mm.",
    )


@pytest.mark.parametrize(
    "pair", ["[0.2, 0.5]", "[0.5, 3.001]", "[1.0, 0.5]", "[0.2505, 0.5]", "[0.5, 0.5005]"]
)
def test_a_concerns_depths_run_upwards_in_whole_micrometres_within_the_hardware(pair: str) -> None:
    lo, hi = (x.strip() for x in pair.strip("[]").split(","))
    problems = refused(concern(roles="['clinician']", depth_mm=f"{{ stretch_marks = {pair} }}"))
    assert problems[0] == (
        f"concerns.test_concern.depth_mm.stretch_marks ({lo}-{hi}) must run upwards in whole "
        "micrometres within 0.25-3.00 mm."
    )


def test_a_concerns_depths_may_reach_the_hardware_range() -> None:
    p = load_policy_text(concern(roles="['clinician']", depth_mm="{ stretch_marks = [0.25, 3.0] }"))
    assert p.concerns["test_concern"].depth_mm["stretch_marks"] == [0.25, 3.0]
    p = load_policy_text(concern(roles="['clinician']", depth_mm="{ cheeks = [1.0, 1.0] }"))
    assert p.concerns["test_concern"].depth_mm["cheeks"] == [1.0, 1.0]


# --- A concern's guidance never passes the caps of the roles that may use it ---------------------


def test_a_concerns_rate_lies_inside_each_of_its_roles_rate_range() -> None:
    load_policy_text(
        concern(roles="['home']", rate_hz="[25, 120]", depth_mm="{ cheeks = [0.25, 0.5] }")
    )
    for pair, shown in (("[24, 100]", "24-100"), ("[90, 121]", "90-121")):
        text = concern(roles="['home']", rate_hz=pair, depth_mm="{ cheeks = [0.25, 0.5] }")
        assert refused(text) == (
            f"concerns.test_concern.rate_hz ({shown} Hz) lies outside the home role's 25-120 Hz.",
        )


def test_a_concerns_rate_may_be_a_single_rate_at_the_roles_ends() -> None:
    for pair in ("[25, 25]", "[120, 120]", "[100, 100]"):
        text = concern(roles="['home']", rate_hz=pair, depth_mm="{ cheeks = [0.25, 0.5] }")
        assert load_policy_text(text).concerns["test_concern"].rate_hz == [
            int(x) for x in pair.strip("[]").split(",")
        ]


def test_a_zone_after_one_the_shape_rules_refused_is_still_judged_against_the_caps() -> None:
    text = concern(roles="['home']", depth_mm="{ lips = [0.5, 1.0], cheeks = [0.25, 0.6] }")
    assert refused(text) == (
        "concerns.test_concern.depth_mm.lips is not a treatment zone of skin.",
        "concerns.test_concern.depth_mm.cheeks goes to 0.60 mm, above the home role's cap "
        "there (0.50 mm): guidance never passes the governor's caps.",
    )


def test_a_concerns_depth_reaches_but_never_passes_a_roles_plain_cap() -> None:
    # home: its 0.5 mm cap on the cheeks; aesthetician: the cheeks' recommended 1.0 mm
    load_policy_text(concern(roles="['home', 'aesthetician']", depth_mm="{ cheeks = [0.25, 0.5] }"))
    load_policy_text(concern(roles="['aesthetician']", depth_mm="{ cheeks = [0.25, 1.0] }"))
    assert refused(concern(roles="['home']", depth_mm="{ cheeks = [0.25, 0.501] }")) == (
        "concerns.test_concern.depth_mm.cheeks goes to 0.501 mm, above the home role's cap "
        "there (0.50 mm): guidance never passes the governor's caps.",
    )
    assert refused(concern(roles="['aesthetician']", depth_mm="{ cheeks = [0.5, 1.001] }")) == (
        "concerns.test_concern.depth_mm.cheeks goes to 1.001 mm, above the aesthetician role's "
        "cap there (1.00 mm): guidance never passes the governor's caps.",
    )


def test_a_clinicians_concern_may_reach_the_zones_hard_max_with_a_reason() -> None:
    load_policy_text(concern(roles="['clinician']", depth_mm="{ cheeks = [1.0, 2.0] }"))
    assert refused(concern(roles="['clinician']", depth_mm="{ cheeks = [1.0, 2.001] }")) == (
        "concerns.test_concern.depth_mm.cheeks goes to 2.001 mm, above the clinician role's "
        "cap there (2.00 mm): guidance never passes the governor's caps.",
    )


def test_a_concern_for_a_role_that_may_not_treat_the_zone_is_refused() -> None:
    text = "[roles.home]\nzones = ['neck']\n" + concern(
        roles="['home']", depth_mm="{ neck = [0.25, 0.5], cheeks = [0.25, 0.5] }"
    )
    assert refused(text) == (
        "concerns.test_concern.roles names home, who may not treat cheeks "
        "(concerns.*.depth_mm.cheeks).",
    )


def test_every_role_of_a_concern_is_checked_not_only_the_first() -> None:
    text = concern(roles="['clinician', 'home']", rate_hz="[90, 150]")
    assert refused(text) == (
        "concerns.test_concern.rate_hz (90-150 Hz) lies outside the home role's 25-120 Hz.",
        "concerns.test_concern.depth_mm.cheeks goes to 1.00 mm, above the home role's cap "
        "there (0.50 mm): guidance never passes the governor's caps.",
    )


def test_every_zone_of_a_concern_is_checked_not_only_the_first() -> None:
    text = concern(roles="['aesthetician']", depth_mm="{ cheeks = [0.5, 1.0], neck = [0.5, 1.1] }")
    assert refused(text) == (
        "concerns.test_concern.depth_mm.neck goes to 1.10 mm, above the aesthetician role's cap "
        "there (1.00 mm): guidance never passes the governor's caps.",
    )


@pytest.mark.parametrize(
    "depth",
    [
        "{ lips = [0.5, 9.0] }",
        "{ bench = [0.5, 3.0] }",
        "{ cheeks = [0.5, 1.2345] }",
    ],
)
def test_a_zone_the_shape_rules_refused_is_not_judged_against_the_caps(depth: str) -> None:
    # one sentence per broken rule: no cap sentence for a zone that is not a zone of skin or a
    # depth that is not whole micrometres
    assert len(refused(concern(roles="['home']", depth_mm=depth))) == 1


@pytest.mark.parametrize("role", ["engineer", "surgeon"])
def test_a_role_that_does_not_treat_people_gets_no_cap_sentence(role: str) -> None:
    assert refused(concern(roles=f"['{role}']", depth_mm="{ cheeks = [0.5, 3.0] }")) == (
        f"concerns.test_concern.roles names '{role}', which is not a role that treats people.",
    )


def test_the_roles_after_one_that_does_not_treat_people_are_still_judged() -> None:
    text = concern(roles="['engineer', 'home']", depth_mm="{ cheeks = [0.25, 0.6] }")
    assert refused(text) == (
        "concerns.test_concern.roles names 'engineer', which is not a role that treats people.",
        "concerns.test_concern.depth_mm.cheeks goes to 0.60 mm, above the home role's cap "
        "there (0.50 mm): guidance never passes the governor's caps.",
    )
