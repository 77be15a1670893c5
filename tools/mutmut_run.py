"""mutmut's command line with one change: prose is not mutated (tools/mutate.py runs this).

mutmut turns every string literal into three mutants ("XX" around it, lower case, upper case).
For the words of a sentence shown to an operator that measures nothing about the safety
controls (what a sentence says is checked by the tests that read it), and each such survivor
costs a full run of its tests. So a literal with a space in it (prose) is left alone; every
other literal is still mutated: zone and role names, limit names such as "zone_recommended",
Unicode categories such as "Cc", unit suffixes.

And a mutant's tests run fastest first (by their durations in mutmut's stats run), so a killed
mutant costs its fastest failing test, not a slow property test that happened to come first.
And hypothesis runs under the profile `mutate` (pyproject's [tool.mutmut] selects it): 10
examples, derandomized and without the example database, so a mutant's verdict is the same on
every run and a property test that a mutant does not break costs a second, not ten.
And a test's time in the stats run counts its fixtures (setup and teardown) as well as its
call: mutmut sets each mutant's CPU limit from those times, and a test whose store fixture
takes longer than its body would otherwise make a mutant that fails late a "timeout".
Nothing else of mutmut changes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import libcst as cst
from hypothesis import HealthCheck, settings
from mutmut.__main__ import cli
from mutmut.mutation import mutators
from mutmut.runners.harness import PytestRunner
from mutmut.state import state


def _is_prose(node: cst.BaseString) -> bool:
    if not isinstance(node, cst.SimpleString):
        return False
    return " " in str(node.evaluated_value)


def _strings_but_prose(node: cst.BaseString) -> Iterable[cst.BaseString]:
    if _is_prose(node):
        return
    yield from _ORIGINAL(node)


_ORIGINAL = mutators.operator_string


_RUN_TESTS = PytestRunner.run_tests


def _fastest_first(self: PytestRunner, *, mutant_name: str | None, tests: Iterable[str]) -> int:
    durations = state().duration_by_test
    ordered = sorted(tests, key=lambda t: (durations.get(t, 0.0), t))
    return _RUN_TESTS(self, mutant_name=mutant_name, tests=ordered)


class _WholeTestTime:
    """A pytest plugin beside mutmut's stats collector: it adds each test's setup and
    teardown time to the call time mutmut records."""

    def pytest_runtest_makereport(self, item: object, call: object) -> None:
        when = getattr(call, "when", "")
        if when in ("setup", "teardown"):
            nodeid = str(getattr(item, "nodeid", ""))
            durations = state().duration_by_test
            durations[nodeid] = durations.get(nodeid, 0.0) + float(getattr(call, "duration", 0))


_RUN_STATS = PytestRunner.run_stats
_EXECUTE = PytestRunner.execute_pytest


def _stats_with_fixture_time(self: PytestRunner, *, tests: Iterable[str]) -> int:
    def execute(params: list[str], **kwargs: Any) -> int:
        plugins = [*(kwargs.pop("plugins", None) or []), _WholeTestTime()]
        return int(_EXECUTE(self, params, plugins=plugins, **kwargs))

    self.execute_pytest = execute  # type: ignore[method-assign]
    try:
        return int(_RUN_STATS(self, tests=tests))
    finally:
        del self.execute_pytest


def install() -> None:
    """The hypothesis profile, the test order, and the string operator in mutmut's list
    (file_mutation holds the same list object)."""
    settings.register_profile(
        "mutate",
        max_examples=10,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    PytestRunner.run_tests = _fastest_first  # type: ignore[method-assign]
    PytestRunner.run_stats = _stats_with_fixture_time  # type: ignore[method-assign]
    ops = mutators.mutation_operators
    assert isinstance(ops, list)
    for i, (kind, op) in enumerate(ops):
        if op is _ORIGINAL:
            ops[i] = (kind, _strings_but_prose)
            return
    raise SystemExit("needlepen mutate: this mutmut has no string operator to adjust.")


if __name__ == "__main__":
    install()
    sys.argv[0] = "mutmut"
    sys.exit(cli())
