"""The treatment policy: the shipped default, a clinic's partial file, and the built-in ceilings
that no file can pass. Also the hypothesis strategies for valid and invalid policies that the
governor's property tests reuse."""

from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from driver.safety.policy import (
    ROLE_NAMES,
    ZONE_NAMES,
    Policy,
    PolicyError,
    default_policy,
    default_policy_text,
    diff_policies,
    load_policy,
    load_policy_text,
    mm_to_um_exact,
    policy_digest,
    policy_to_toml,
)
from driver.testing.strategies import SKIN_ZONES

#: DOMAIN.md, "Depth guidance per treatment zone": (recommended max, hard max) in mm.
DOMAIN_ZONES = {
    "forehead": (0.50, 0.75),
    "periorbital": (0.30, 0.50),
    "nose": (0.50, 0.75),
    "upper_lip": (0.50, 0.75),
    "cheeks": (1.00, 2.00),
    "chin_jawline": (1.00, 2.00),
    "neck": (1.00, 1.50),
    "decolletage": (0.75, 1.00),
    "hands": (0.50, 0.75),
    "scalp": (1.00, 1.50),
    "acne_scars": (1.50, 2.50),
    "stretch_marks": (2.00, 3.00),
    "bench": (3.00, 3.00),
}


# --- A small TOML writer for generated policies (tomllib only reads) -----------------------------


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """TOML text for `data` (scalars first, then one [table] per nested dict)."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        path = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
        scalars = {k: v for k, v in value.items() if not (isinstance(v, dict) and v)}
        nested = {k: v for k, v in value.items() if isinstance(v, dict) and v}
        out += f"\n[{path}]\n" + to_toml(scalars)
        if nested:
            out += to_toml(nested, path)
    return out


# --- Strategies ----------------------------------------------------------------------------------


def _mm(um: int) -> float:
    return um / 1000


@st.composite
def policy_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A complete policy as plain data that breaks no rule (edges included)."""
    home = draw(st.integers(250, 999))
    aest = draw(st.integers(home, 3000))
    clin = draw(st.integers(aest, 3000))
    eng = draw(st.integers(250, 3000))

    def within(lo: int, hi: int, prefer: int) -> int:
        # Often the parent's bound or a common value, sometimes anything in range (edges too).
        return draw(st.one_of(st.just(prefer), st.integers(lo, hi)).filter(lambda v: lo <= v <= hi))

    def subset(zones: list[str]) -> list[str]:
        if not zones or draw(st.sampled_from(["all"] * 7 + ["some"])) == "all":
            return zones
        return draw(st.lists(st.sampled_from(zones), unique=True))

    cmin = within(1, 150, 25)
    cmax = within(cmin, 150, 150)
    amin = within(cmin, cmax, cmin)
    amax = within(amin, cmax, cmax)
    hmin = within(amin, amax, amin)
    hmax = within(hmin, amax, amax)
    emin = within(1, 150, 25)
    emax = within(emin, 150, 150)
    czones = subset(SKIN_ZONES)
    azones = subset(czones)
    hzones = subset(azones)
    ezones = draw(st.sampled_from([["bench"], ["bench"], ["bench"], []]))
    zones = {}
    for name in ZONE_NAMES:
        hard = draw(st.integers(250, 3000))
        rec = draw(st.integers(250, hard))
        zones[name] = {"recommended_max_mm": _mm(rec), "hard_max_mm": _mm(hard)}

    def role(cap: int, lo: int, hi: int, zs: list[str]) -> dict[str, Any]:
        return {"max_depth_mm": _mm(cap), "rate_min_hz": lo, "rate_max_hz": hi, "zones": zs}

    return {
        "min_days_between_sessions": draw(st.integers(28, 365)),
        "roles": {
            "home": role(home, hmin, hmax, hzones),
            "aesthetician": role(aest, amin, amax, azones),
            "clinician": role(clin, cmin, cmax, czones),
            "engineer": role(eng, emin, emax, ezones),
        },
        "zones": zones,
    }


def valid_policies() -> st.SearchStrategy[Policy]:
    return st.one_of(
        st.just(default_policy()),
        policy_dicts().map(Policy.model_validate),
    )


_DEPTH_FIELDS = [("roles", r, "max_depth_mm") for r in ROLE_NAMES] + [
    ("zones", z, f) for z in ZONE_NAMES for f in ("recommended_max_mm", "hard_max_mm")
]
_RATE_FIELDS = [("roles", r, f) for r in ROLE_NAMES for f in ("rate_min_hz", "rate_max_hz")]
_identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)


@st.composite
def invalid_policies(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A policy that breaks exactly one kind of rule, and the key its refusal must name."""
    data = copy.deepcopy(draw(policy_dicts()))
    roles, zones = data["roles"], data["zones"]
    kind = draw(
        st.sampled_from(
            [
                "home_cap",
                "depth_range",
                "non_finite",
                "not_whole_um",
                "rec_above_hard",
                "unknown_key",
                "depth_type",
                "rate_type",
                "rate_range",
                "rate_order",
                "days",
                "bench_for_skin_role",
                "engineer_on_skin",
                "unknown_zone",
                "cap_order",
                "rate_privilege",
                "zone_privilege",
            ]
        )
    )
    if kind == "home_cap":
        roles["home"]["max_depth_mm"] = _mm(draw(st.integers(1000, 3000)))
        roles["aesthetician"]["max_depth_mm"] = 3.0
        roles["clinician"]["max_depth_mm"] = 3.0
        return data, "roles.home.max_depth_mm"
    if kind in ("depth_range", "non_finite", "not_whole_um", "depth_type"):
        table, name, key = draw(st.sampled_from(_DEPTH_FIELDS))
        if kind == "depth_range":
            value: Any = draw(
                st.one_of(
                    st.sampled_from([0.0, -0.0, 0.249, 0.2499, 3.001, 3.0001, -1.0, 1e9, 10**12]),
                    st.integers(-(10**6), 249).map(_mm),
                    st.integers(3001, 10**7).map(_mm),
                )
            )
        elif kind == "non_finite":
            value = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        elif kind == "not_whole_um":
            value = (2 * draw(st.integers(250, 2999)) + 1) / 2000
            assume(mm_to_um_exact(value) is None)
        else:
            value = draw(
                st.one_of(
                    st.text(max_size=5),
                    st.booleans(),
                    st.lists(st.floats(0.3, 1.0), max_size=2),
                    st.just({"a": 1}),
                )
            )
        data[table][name][key] = value
        return data, f"{table}.{name}.{key}"
    if kind == "rec_above_hard":
        name = draw(st.sampled_from(ZONE_NAMES))
        hard = draw(st.integers(250, 2999))
        zones[name] = {
            "recommended_max_mm": _mm(
                hard + draw(st.one_of(st.just(1), st.integers(1, 3000 - hard)))
            ),
            "hard_max_mm": _mm(hard),
        }
        return data, f"zones.{name}.recommended_max_mm"
    if kind == "unknown_key":
        where = draw(st.sampled_from(["top", "roles", "zones", "role", "zone"]))
        key = draw(_identifiers)
        if where == "top":
            assume(key not in Policy.model_fields)
            data[key] = 1
            return data, key
        if where == "roles":
            assume(key not in ROLE_NAMES)
            roles[key] = {"max_depth_mm": 0.5}
            return data, f"roles.{key}"
        if where == "zones":
            assume(key not in ZONE_NAMES)
            zones[key] = {"hard_max_mm": 0.5}
            return data, f"zones.{key}"
        if where == "role":
            assume(key not in ("max_depth_mm", "rate_min_hz", "rate_max_hz", "zones"))
            name = draw(st.sampled_from(ROLE_NAMES))
            roles[name][key] = 1.0
            return data, f"roles.{name}.{key}"
        assume(key not in ("recommended_max_mm", "hard_max_mm"))
        name = draw(st.sampled_from(ZONE_NAMES))
        zones[name][key] = 1.0
        return data, f"zones.{name}.{key}"
    if kind == "rate_type":
        table, name, key = draw(st.sampled_from(_RATE_FIELDS))
        data[table][name][key] = draw(
            st.one_of(st.floats(allow_nan=True), st.text(max_size=4), st.booleans())
        )
        return data, f"{table}.{name}.{key}"
    if kind == "rate_range":
        table, name, key = draw(st.sampled_from(_RATE_FIELDS))
        data[table][name][key] = draw(
            st.one_of(st.integers(max_value=0), st.integers(min_value=151, max_value=2**62))
        )
        return data, f"{table}.{name}.{key}"
    if kind == "rate_order":
        name = draw(st.sampled_from(ROLE_NAMES))
        hi = draw(st.integers(1, 149))
        roles[name]["rate_min_hz"] = draw(st.integers(hi + 1, 150))
        roles[name]["rate_max_hz"] = hi
        return data, f"roles.{name}.rate_min_hz"
    if kind == "days":
        data["min_days_between_sessions"] = draw(
            st.one_of(
                st.integers(max_value=27),
                st.integers(min_value=366, max_value=2**62),
                st.floats(allow_nan=True),
                st.sampled_from(["28", True]),
            )
        )
        return data, "min_days_between_sessions"
    if kind == "bench_for_skin_role":
        name = draw(st.sampled_from(["home", "aesthetician", "clinician"]))
        roles[name]["zones"] = [*roles[name]["zones"], "bench"]
        return data, f"roles.{name}.zones"
    if kind == "engineer_on_skin":
        roles["engineer"]["zones"] = [
            *roles["engineer"]["zones"],
            draw(st.sampled_from(SKIN_ZONES)),
        ]
        return data, "roles.engineer.zones"
    if kind == "unknown_zone":
        name = draw(st.sampled_from(ROLE_NAMES))
        zone = draw(_identifiers)
        assume(zone not in ZONE_NAMES)
        roles[name]["zones"] = [*roles[name]["zones"], zone]
        return data, f"roles.{name}.zones"
    if kind == "cap_order":
        lower, higher = draw(
            st.sampled_from([("home", "aesthetician"), ("aesthetician", "clinician")])
        )
        lo = draw(st.integers(251, 999))
        roles[lower]["max_depth_mm"] = _mm(lo)
        roles[higher]["max_depth_mm"] = _mm(draw(st.integers(250, lo - 1)))
        if lower == "aesthetician":
            roles["home"]["max_depth_mm"] = 0.25
        return data, f"roles.{higher}.max_depth_mm"
    if kind == "rate_privilege":
        lower, higher = draw(
            st.sampled_from([("home", "aesthetician"), ("aesthetician", "clinician")])
        )
        for name in ROLE_NAMES:
            roles[name]["rate_min_hz"], roles[name]["rate_max_hz"] = 25, 150
        if draw(st.booleans()):
            roles[higher]["rate_max_hz"] = draw(st.integers(25, 149))
            return data, f"roles.{higher}.rate_max_hz"
        roles[lower]["rate_min_hz"] = draw(st.integers(1, 24))
        if lower == "aesthetician":
            roles["home"]["rate_min_hz"] = roles["aesthetician"]["rate_min_hz"]
        return data, f"roles.{higher}.rate_min_hz"
    # zone_privilege
    lower, higher = draw(st.sampled_from([("home", "aesthetician"), ("aesthetician", "clinician")]))
    zone = draw(st.sampled_from(SKIN_ZONES))
    for name in ("home", "aesthetician", "clinician"):
        roles[name]["zones"] = list(SKIN_ZONES)
    roles[higher]["zones"] = [z for z in SKIN_ZONES if z != zone]
    if higher == "aesthetician":
        roles["clinician"]["zones"] = list(SKIN_ZONES)
    return data, f"roles.{higher}.zones"


# --- The default policy --------------------------------------------------------------------------


def test_default_policy_holds_the_domain_zone_table() -> None:
    policy = default_policy()
    for zone, (rec, hard) in DOMAIN_ZONES.items():
        assert policy.zone(zone).recommended_max_mm == rec, zone
        assert policy.zone(zone).hard_max_mm == hard, zone
    assert set(DOMAIN_ZONES) == set(ZONE_NAMES)


def test_default_policy_holds_the_domain_roles() -> None:
    policy = default_policy()
    assert policy.role("home").max_depth_mm == 0.5
    assert policy.role("aesthetician").max_depth_mm == 1.0
    assert policy.role("clinician").max_depth_mm == 3.0
    assert policy.role("engineer").max_depth_mm == 3.0
    assert policy.role("engineer").zones == ("bench",)
    for role in ("home", "aesthetician", "clinician"):
        assert list(policy.role(role).zones) == SKIN_ZONES
    assert policy.min_days_between_sessions == 28


def test_load_policy_none_is_the_default_and_the_default_text_parses() -> None:
    assert load_policy(None) == default_policy()
    assert Policy.model_validate(tomllib.loads(default_policy_text())) == default_policy()


def test_policy_is_frozen() -> None:
    policy = default_policy()
    with pytest.raises(ValidationError):
        policy.min_days_between_sessions = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        policy.roles.home.max_depth_mm = 2.0  # type: ignore[misc]
    assert policy.role("home").max_depth_mm == 0.5


def test_unknown_role_or_zone_lookup_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        default_policy().role("surgeon")
    with pytest.raises(KeyError):
        default_policy().zone("model_config")


# --- A clinic's file -----------------------------------------------------------------------------

CLINIC = """
[roles.home]
max_depth_mm = 0.5
[roles.aesthetician]
max_depth_mm = 1.0
[zones.cheeks]
recommended_max_mm = 1.0
hard_max_mm = 2.0
"""


def test_the_issue_example_file_is_accepted_and_changes_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "clinic.toml"
    path.write_text(CLINIC.replace("hard_max_mm = 2.0", "hard_max_mm = 1.5"))
    policy = load_policy(path)
    assert diff_policies(default_policy(), policy) == [("zones.cheeks.hard_max_mm", 2.0, 1.5)]


def test_a_file_overrides_single_keys_of_a_table() -> None:
    policy = load_policy_text("[roles.home]\nrate_max_hz = 100\n")
    home = policy.role("home")
    assert (home.max_depth_mm, home.rate_min_hz, home.rate_max_hz) == (0.5, 25, 100)
    assert policy.zones == default_policy().zones


def test_a_tightening_file_is_accepted() -> None:
    text = (
        "min_days_between_sessions = 42\n"
        "[roles.home]\nmax_depth_mm = 0.3\nzones = ['forehead', 'cheeks']\n"
        "[zones.periorbital]\nrecommended_max_mm = 0.25\nhard_max_mm = 0.25\n"
    )
    policy = load_policy_text(text)
    assert policy.min_days_between_sessions == 42
    assert policy.role("home").zones == ("forehead", "cheeks")
    assert policy.zone("periorbital").hard_max_um == 250


def test_integers_are_accepted_for_depths_and_zone_lists_keep_canonical_order() -> None:
    policy = load_policy_text(
        "[zones.stretch_marks]\nhard_max_mm = 3\n[roles.home]\nzones = ['neck', 'forehead']\n"
    )
    assert policy.zone("stretch_marks").hard_max_mm == 3.0
    assert policy.role("home").zones == ("forehead", "neck")


# --- Refusals, each naming the key and the rule --------------------------------------------------

REFUSALS = [
    ("[roles.home]\nmax_depth_mm = 1.0\n", "roles.home.max_depth_mm", "below 1.00 mm"),
    ("[roles.home]\nmax_depth_mm = 0.999\n", None, None),  # the largest accepted home cap
    ("[roles.clinician]\nmax_depth_mm = 3.05\n", "roles.clinician.max_depth_mm", "0.25-3.00 mm"),
    (
        "[zones.stretch_marks]\nhard_max_mm = 3.001\n",
        "zones.stretch_marks.hard_max_mm",
        "0.25-3.00",
    ),
    ("[zones.forehead]\nrecommended_max_mm = 0.2\n", "zones.forehead.recommended_max_mm", "0.25"),
    (
        "[zones.neck]\nrecommended_max_mm = 1.6\n",
        "zones.neck.recommended_max_mm",
        "must not be above",
    ),
    ("[zones.neck]\nhard_max_mm = nan\n", "zones.neck.hard_max_mm", "finite"),
    ("[zones.neck]\nhard_max_mm = inf\n", "zones.neck.hard_max_mm", "finite"),
    ("[zones.neck]\nhard_max_mm = 1.2345\n", "zones.neck.hard_max_mm", "micrometres"),
    ("[zones.neck]\nhard_max_mm = '1.5'\n", "zones.neck.hard_max_mm", "number"),
    ("[zones.neck]\nhard_max_mm = true\n", "zones.neck.hard_max_mm", "number"),
    ("[roles.home]\nrate_max_hz = 151\n", "roles.home.rate_max_hz", "1-150 Hz"),
    ("[roles.home]\nrate_max_hz = 100.0\n", "roles.home.rate_max_hz", "whole number"),
    ("[roles.home]\nrate_min_hz = 0\n", "roles.home.rate_min_hz", "1-150 Hz"),
    ("[roles.home]\nrate_min_hz = 121\n", "roles.home.rate_min_hz", "must not be above"),
    ("min_days_between_sessions = 27\n", "min_days_between_sessions", "28"),
    ("min_days_between_sessions = 28.0\n", "min_days_between_sessions", "whole number"),
    ("[roles.home]\nzones = ['bench']\n", "roles.home.zones", "engineers only"),
    ("[roles.engineer]\nzones = ['bench', 'neck']\n", "roles.engineer.zones", "only the bench"),
    ("[roles.home]\nzones = ['lips']\n", "roles.home.zones", "not a known zone"),
    ("[roles.home]\nzones = ['neck', 'neck']\n", "roles.home.zones", "more than once"),
    ("[roles.home]\nzones = 'neck'\n", "roles.home.zones", "list of zone names"),
    ("[roles.clinician]\nmax_depth_mm = 0.9\n", "roles.clinician.max_depth_mm", "never gets less"),
    (
        "[roles.aesthetician]\nrate_max_hz = 100\n",
        "roles.aesthetician.rate_max_hz",
        "never gets less",
    ),
    ("[roles.clinician]\nzones = ['neck']\n", "roles.clinician.zones", "missing"),
    ("[roles.home]\nrate_min_hz = 20\n", "roles.aesthetician.rate_min_hz", "never gets less"),
    ("[zones.neck]\nrecommended_max_mm = 1.501\n", "zones.neck.recommended_max_mm", "not be above"),
    ("[roles.surgeon]\nmax_depth_mm = 1.0\n", "roles.surgeon", "not a known policy key"),
    ("[zones.lips]\nhard_max_mm = 1.0\n", "zones.lips", "not a known policy key"),
    ("[roles.home]\nmax_depth = 0.4\n", "roles.home.max_depth", "not a known policy key"),
    ("min_days = 30\n", "min_days", "not a known policy key"),
    ("roles = 3\n", "roles", "table"),
    ("[roles]\nhome = 0.5\n", "roles.home", "table"),
    ("[roles.home\nmax_depth_mm = 0.4\n", None, "not valid TOML"),
    ("max_depth_mm = \n", None, "not valid TOML"),
]


@pytest.mark.parametrize(("text", "key", "rule"), REFUSALS)
def test_each_rule_is_enforced_with_a_sentence_naming_key_and_rule(
    text: str, key: str | None, rule: str | None
) -> None:
    if key is None and rule is None:
        load_policy_text(text)
        return
    with pytest.raises(PolicyError) as info:
        load_policy_text(text, "clinic.toml")
    message = str(info.value)
    assert message.startswith("policy file clinic.toml refused: ")
    assert "\n" not in message
    if key is not None:
        assert key in info.value.problems[0]
    assert rule is not None and rule in message
    assert "Traceback" not in message and "pydantic" not in message.lower()


def test_a_file_with_one_bad_key_is_refused_as_a_whole(tmp_path: Path) -> None:
    before = default_policy()
    path = tmp_path / "clinic.toml"
    path.write_text("min_days_between_sessions = 35\n[roles.home]\nmax_depth_mm = 1.5\n")
    with pytest.raises(PolicyError):
        load_policy(path)
    assert default_policy() == before
    assert default_policy().min_days_between_sessions == 28
    assert Policy.model_validate(tomllib.loads(default_policy_text())) == before


def test_several_problems_are_all_listed() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_text(
            "[roles.home]\nmax_depth_mm = nan\nrate_max_hz = 'x'\n[zones.neck]\nfoo = 1\n"
        )
    assert len(info.value.problems) == 3


def test_missing_directory_binary_and_huge_files_are_refused_in_one_sentence(
    tmp_path: Path,
) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "nope.toml")
    with pytest.raises(PolicyError, match="directory"):
        load_policy(tmp_path)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00max_depth_mm")
    with pytest.raises(PolicyError, match="UTF-8"):
        load_policy(binary)
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * 40_000)
    with pytest.raises(PolicyError, match="too large"):
        load_policy(big)


def test_model_validate_enforces_the_cross_key_rules_too() -> None:
    data = tomllib.loads(default_policy_text())
    data["roles"]["home"]["max_depth_mm"] = 0.95
    data["roles"]["aesthetician"]["max_depth_mm"] = 0.9
    with pytest.raises(ValidationError):
        Policy.model_validate(data)


# --- Writing, comparing, digests -----------------------------------------------------------------


def test_policy_to_toml_of_the_default_loads_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "full.toml"
    path.write_text(policy_to_toml(default_policy()))
    assert load_policy(path) == default_policy()


def test_digest_is_stable_and_changes_with_any_value() -> None:
    a = default_policy()
    b = load_policy_text("[zones.hands]\nhard_max_mm = 0.7\n")
    assert policy_digest(a) == policy_digest(load_policy_text(""))
    assert policy_digest(a) != policy_digest(b)
    assert re.fullmatch(r"[0-9a-f]{64}", policy_digest(a))


def test_mm_to_um_exact_reads_what_a_person_typed() -> None:
    assert mm_to_um_exact(0.3) == 300
    assert mm_to_um_exact(0.1 + 0.2) is None  # 0.30000000000000004 is not a whole micrometre
    assert mm_to_um_exact(1.005) == 1005
    assert mm_to_um_exact(3) == 3000
    assert mm_to_um_exact(math.nan) is None
    assert mm_to_um_exact(True) is None  # type: ignore[arg-type]
    assert mm_to_um_exact(0.0005) is None


# --- Properties ----------------------------------------------------------------------------------


@given(policy_dicts())
def test_generated_valid_policies_are_accepted_and_round_trip(data: dict[str, Any]) -> None:
    policy = load_policy_text(to_toml(data))
    # a file without [concerns] inherits the default concerns that fit its caps
    plain = Policy.model_validate(data)
    assert policy.model_dump(exclude={"concerns"}) == plain.model_dump(exclude={"concerns"})
    assert set(policy.concerns) <= set(default_policy().concerns)
    assert load_policy_text(policy_to_toml(policy)) == policy
    assert policy.role("home").max_depth_um < 1000


@given(invalid_policies())
def test_generated_invalid_policies_are_all_refused_naming_the_key(
    case: tuple[dict[str, Any], str],
) -> None:
    data, key = case
    with pytest.raises(PolicyError) as info:
        load_policy_text(to_toml(data), "generated.toml")
    problems = info.value.problems
    assert any(key in p for p in problems), (key, problems)
    assert all(p.endswith(".") or p.endswith(")") for p in problems)
    assert all("\n" not in p for p in problems)


@given(policy_dicts(), st.data())
def test_a_partial_file_changes_exactly_the_keys_it_names(
    data: dict[str, Any], draw: st.DataObject
) -> None:
    leaves = [("min_days_between_sessions",)]
    leaves += [("roles", r, k) for r in ROLE_NAMES for k in data["roles"][r]]
    leaves += [("zones", z, k) for z in ZONE_NAMES for k in data["zones"][z]]
    chosen = draw.draw(st.lists(st.sampled_from(leaves), unique=True, max_size=8))
    partial: dict[str, Any] = {}
    for path in chosen:
        node = partial
        source: Any = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            source = source[part]
        node[path[-1]] = source[path[-1]]
    try:
        policy = load_policy_text(to_toml(partial))
    except PolicyError as exc:
        # Refused only for a rule between a named key and a default one, never for a key alone.
        assert all(
            "must not be" in p or "must include" in p or "below 1.00" in p for p in exc.problems
        )
        return
    default = tomllib.loads(default_policy_text())
    dumped = policy.model_dump()
    for path in leaves:
        expected: Any = data if path in chosen else default
        got: Any = dumped
        for part in path:
            expected, got = expected[part], got[part]
        if path[-1] == "zones":
            expected = tuple(z for z in ZONE_NAMES if z in expected)
        assert got == expected, path


@given(st.text(max_size=200))
def test_any_text_is_a_policy_or_a_policy_error(text: str) -> None:
    try:
        policy = load_policy_text(text)
    except PolicyError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(policy, Policy)
