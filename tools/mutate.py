"""`python -m tools.mutate`: mutation testing of the safety controls (mutmut 3), one table.

Each group below names safety-critical modules and the fast tests that cover them. For each
group the runner copies the project into build/mutate/<group>/ (mutmut works in its current
directory and keeps its state in mutants/ there), writes that copy's [tool.mutmut] with the
group's modules and tests on top of the shared settings of pyproject.toml, runs `mutmut run`
there with at most `--workers` children, and reads mutmut's per-file results. Survivors listed
in tools/mutation_equivalents/<group>.toml (each with its one-line reason, also in
docs/QA.md) count as equivalent; every other survivor, and every mutant no selected test
reaches, is printed with its diff. The table: module, mutants, killed, survived, timed out,
equivalent.

    python -m tools.mutate                      # every group (make mutate)
    python -m tools.mutate --groups governor    # one group
    python -m tools.mutate --report             # the table of the last run, without running
    python -m tools.mutate --retest             # after adding tests: run the last run's
                                                # unexplained survivors and timeouts again

    python -m tools.mutate --groups commands \
        --mutants 'driver.session.run.xǁRunControlǁstart__mutmut_*'
                                                # only these mutants, with today's tests

    python -m tools.mutate --report --update-safety   # and docs/SAFETY.md's score column

Exit status: 0 when every group ran to the end and no survivor is unexplained, 1 otherwise,
2 when mutmut is missing.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutate"
#: One file of equivalent mutants per group: tools/mutation_equivalents/<group>.toml.
EQUIVALENTS = ROOT / "tools" / "mutation_equivalents"
#: What the copy of the project leaves out (caches, the venv, earlier runs).
IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "mutants",
    ".hypothesis",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".import_linter_cache",
    "*.egg-info",
    "*.db*",
)
SAFETY = ROOT / "docs" / "SAFETY.md"
#: One item of a hazard's last cell in docs/SAFETY.md: a group and its score.
SCORE_ITEM = re.compile(r"\b([a-z][a-z-]*): (?:\d+(?:\.\d+)? %|not run|-)")
NO_MUTMUT = (
    "needlepen mutate: mutmut is not installed, so nothing was mutated; install it with "
    "`pip install -e '.[mutate]'` (make mutate does)."
)


@dataclass(frozen=True)
class Group:
    """Modules mutated together, and the fast tests that must kill their mutants."""

    name: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]


GOVERNOR_TESTS = (
    "tests/driver/test_governor.py",
    "tests/driver/test_governor_properties.py",
    "tests/driver/test_governor_reasons.py",
    "tests/driver/test_governor_edges.py",
)

GROUPS: tuple[Group, ...] = (
    # the governor: caps, floors, rounding, rates, the interval rule, override reasons
    Group(
        "governor",
        (
            "driver/safety/numbers.py",
            "driver/safety/limits.py",
            "driver/safety/rules.py",
            "driver/safety/reason.py",
            "driver/safety/governor.py",
        ),
        GOVERNOR_TESTS,
    ),
    # the host's cross-checks of the pen: its INFO at the handshake, its telemetry after
    Group(
        "pen-checks",
        ("driver/session/checks.py", "driver/session/reader.py"),
        (
            "tests/driver/test_pen_interop.py",
            "tests/driver/test_pen_handshake.py",
            "tests/driver/test_pen_checks_edges.py",
            "tests/driver/test_pen_telemetry_edges.py",
        ),
    ),
    # the simulated firmware's own checks: range, watchdog, latches, cartridges
    Group(
        "firmware",
        (
            "simulator/dispatch.py",
            "simulator/watchdog.py",
            "simulator/latch.py",
            "simulator/cartridge.py",
        ),
        (
            "tests/simulator/test_firmware_watchdog.py",
            "tests/simulator/test_firmware_commands.py",
            "tests/simulator/test_cartridges_per_boot.py",
            "tests/simulator/test_start_precondition.py",
            "tests/simulator/test_firmware_edges.py",
            "tests/simulator/test_dispatch_edges.py",
            "tests/simulator/test_latch_edges.py",
            "tests/simulator/test_firmware_mutation_edges.py",
        ),
    ),
    # the policy's ceilings: what a policy file may say, and what it may never say
    Group(
        "policy",
        (
            "driver/safety/policy/bounds.py",
            "driver/safety/policy/model.py",
            "driver/safety/policy/rules.py",
        ),
        (
            "tests/driver/test_policy_edges.py",
            "tests/driver/test_policy.py",
            "tests/driver/test_policy_files.py",
        ),
    ),
    # the screening rule: who must be screened, what blocks a treatment, what it records
    Group(
        "screening",
        ("driver/safety/screening.py", "driver/session/screening.py"),
        ("tests/driver/test_screening_edges.py",),
    ),
    # the session's command path: risk-raising commands recorded first, stops never waiting
    Group(
        "commands",
        ("driver/session/commands.py", "driver/session/run.py", "driver/session/estops.py"),
        (
            "tests/driver/test_pen.py",
            "tests/driver/test_pen_virtual.py",
            "tests/driver/test_store_start.py",
            "tests/driver/test_store_outage.py",
            "tests/driver/test_command_path_edges.py",
            "tests/driver/test_zone_change_edges.py",
        ),
    ),
    # the store's rules: the interval read, START's transaction (interval, screening and
    # cartridge re-checked), client references, the chain of continued sessions
    Group(
        "store-rules",
        ("driver/audit/sessions.py", "driver/audit/clients.py", "driver/audit/visits.py"),
        (
            "tests/driver/test_store_rules_edges.py",
            "tests/driver/test_store.py",
            "tests/driver/test_store_start.py",
            "tests/driver/test_pen_continue.py",
        ),
    ),
)


@dataclass
class Row:
    module: str
    mutants: int = 0
    killed: int = 0
    survived: int = 0
    timed_out: int = 0
    equivalent: int = 0
    not_run: int = 0  # an interrupted run: mutants not yet judged


def load_equivalents() -> dict[str, str]:
    """Mutant name -> the one-line reason it cannot change behaviour (every group's file)."""
    found: dict[str, str] = {}
    for path in sorted(EQUIVALENTS.glob("*.toml")):
        data = tomllib.loads(path.read_text("utf-8"))
        found.update({str(k): str(v) for k, v in data.get("equivalent", {}).items()})
    return found


def group_pyproject(group: Group) -> str:
    """pyproject.toml with the group's modules and tests added to its [tool.mutmut]."""
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    marker = "[tool.mutmut]\n"
    if marker not in text:
        raise SystemExit("needlepen mutate: pyproject.toml has no [tool.mutmut] section.")
    extra = (
        f"only_mutate = {json.dumps(list(group.modules))}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(list(group.tests))}\n"
    )
    return text.replace(marker, marker + extra, 1)


def prepare(group: Group) -> Path:
    """A fresh copy of the project for the group's run."""
    where = WORK / group.name
    if where.exists():
        shutil.rmtree(where)
    shutil.copytree(ROOT, where, ignore=IGNORE, symlinks=True)
    (where / "pyproject.toml").write_text(group_pyproject(group), "utf-8")
    return where


def run_group(group: Group, workers: int) -> float:
    where = prepare(group)
    started = time.monotonic()
    log = where / "mutmut.log"
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "tools.mutmut_run", "run", "--max-children", str(workers)],
            cwd=where,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text("utf-8", errors="replace").splitlines()[-15:]
        print("\n".join(tail))
        raise SystemExit(f"needlepen mutate: mutmut failed on group {group.name}; see {log}.")
    return time.monotonic() - started


def retest_group(
    group: Group, workers: int, equivalents: dict[str, str], patterns: Sequence[str] = ()
) -> float:
    """Finish the group's last run (an interrupted one) and run again, with today's tests,
    its unexplained survivors and its timeouts (or, given patterns, the mutants they match:
    `driver.session.run.xǁRunControlǁstart__mutmut_*`)."""
    where = WORK / group.name
    if not (where / "mutants").is_dir():
        if patterns:
            prepare(group)
        else:
            return run_group(group, workers)
    shutil.copytree(ROOT / "tests", where / "tests", ignore=IGNORE, dirs_exist_ok=True)
    shutil.copytree(ROOT / "tools", where / "tools", ignore=IGNORE, dirs_exist_ok=True)
    keep_verdicts_for_new_tests(where, group)
    started = time.monotonic()
    names = list(patterns) or [
        name
        for module in group.modules
        for name, code in exit_codes(group, module).items()
        if status_of(code) in ("survived", "no tests", "timeout") and name not in equivalents
    ]
    if names:  # the survivors first: new tests are for them
        _mutmut(where, workers, names, "mutmut-retest.log", group)
    if not patterns:
        _mutmut(where, workers, (), "mutmut-resume.log", group)  # then what was never judged
    return time.monotonic() - started


def keep_verdicts_for_new_tests(where: Path, group: Group) -> None:
    """Write the group's settings (its test files may have grown) and keep the verdicts while
    the record of which test reaches which function is made again: mutmut would drop every
    verdict when the test selection changes, but added tests cannot revive a killed mutant and
    the survivors are run again by name anyway; and its record of an old test would still say
    what that test reached before it was changed, so the record is dropped and collected anew
    (one run of the group's tests)."""
    (where / "pyproject.toml").write_text(group_pyproject(group), "utf-8")
    stats = where / "mutants" / "mutmut-stats.json"
    stats.unlink(missing_ok=True)


def _mutmut(where: Path, workers: int, names: Sequence[str], log_name: str, group: Group) -> None:
    log = where / log_name
    with log.open("w") as out:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tools.mutmut_run",
                "run",
                "--max-children",
                str(workers),
                *names,
            ],
            cwd=where,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text("utf-8", errors="replace").splitlines()[-15:]
        print("\n".join(tail))
        raise SystemExit(f"needlepen mutate: mutmut failed on group {group.name}; see {log}.")


def exit_codes(group: Group, module: str) -> dict[str, int | None]:
    meta = WORK / group.name / "mutants" / (module + ".meta")
    if not meta.exists():
        return {}
    data = json.loads(meta.read_text("utf-8"))
    codes: dict[str, int | None] = data.get("exit_code_by_key", {})
    return codes


def status_of(code: int | None) -> str:
    from mutmut.stats import status_by_exit_code  # only once mutmut is known to be there

    return str(status_by_exit_code[code])


def tally(groups: Sequence[Group], equivalents: dict[str, str]) -> tuple[list[Row], list[str]]:
    """Rows per module, and the names of unexplained survivors (group/mutant)."""
    rows: list[Row] = []
    unexplained: list[str] = []
    for group in groups:
        for module in group.modules:
            row = Row(module)
            statuses: Counter[str] = Counter()
            for name, code in sorted(exit_codes(group, module).items()):
                status = status_of(code)
                statuses[status] += 1
                row.mutants += 1
                if status in ("killed", "caught by type check"):
                    row.killed += 1
                elif status == "timeout":
                    row.timed_out += 1
                elif status in ("survived", "no tests") and name in equivalents:
                    row.equivalent += 1
                elif status == "not checked":
                    row.not_run += 1
                else:
                    row.survived += 1
                    unexplained.append(f"{group.name}/{name} ({status})")
            rows.append(row)
    return rows, unexplained


def equivalent_survivors(
    groups: Sequence[Group], equivalents: dict[str, str]
) -> list[tuple[str, str]]:
    """The mutants of the last run counted as equivalent, each with its one-line reason."""
    found: list[tuple[str, str]] = []
    for group in groups:
        for module in group.modules:
            for name, code in sorted(exit_codes(group, module).items()):
                if status_of(code) in ("survived", "no tests") and name in equivalents:
                    found.append((name, equivalents[name]))
    return found


def print_equivalents(found: Sequence[tuple[str, str]]) -> None:
    if not found:
        return
    print(f"\nequivalent ({len(found)}), each with why it cannot change behaviour:")
    for name, why in found:
        print(f"- {name}: {why}")


def print_table(rows: Sequence[Row]) -> None:
    header = (
        "module",
        "mutants",
        "killed",
        "survived",
        "timed out",
        "equivalent",
        "not run",
        "score",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in [*rows, total_of(rows)]:
        print(
            f"| {row.module} | {row.mutants} | {row.killed} | {row.survived} | "
            f"{row.timed_out} | {row.equivalent} | {row.not_run} | {score(row)} |"
        )


def total_of(rows: Sequence[Row]) -> Row:
    total = Row("total")
    for row in rows:
        for f in ("mutants", "killed", "survived", "timed_out", "equivalent", "not_run"):
            setattr(total, f, getattr(total, f) + getattr(row, f))
    return total


def group_score(group: Group, equivalents: dict[str, str]) -> str:
    """The group's score over all its modules, or "not run" without a complete run."""
    rows, _ = tally([group], equivalents)
    total = total_of(rows)
    if any(r.mutants == 0 for r in rows) or total.not_run:
        return "not run"
    return score(total)


def update_safety(equivalents: dict[str, str]) -> int:
    """Write each group's score of the last run into the last cell of every hazard row of
    docs/SAFETY.md that names the group; returns the number of rows changed."""
    scores = {g.name: group_score(g, equivalents) for g in GROUPS}
    changed = 0
    lines = SAFETY.read_text("utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        if not line.startswith("| H"):
            continue
        head, sep, last = line.rstrip("\n").rstrip().removesuffix("|").rpartition("|")
        if "not mutated" in last:
            continue
        unknown = [m[1] for m in SCORE_ITEM.finditer(last) if m[1] not in scores]
        if unknown:
            raise SystemExit(f"needlepen mutate: docs/SAFETY.md names unknown group(s) {unknown}.")
        cell = SCORE_ITEM.sub(lambda m: f"{m[1]}: {scores[m[1]]}", last)
        new = f"{head}{sep}{cell}|\n"
        if new != line:
            lines[i] = new
            changed += 1
    SAFETY.write_text("".join(lines), "utf-8")
    return changed


def score(row: Row) -> str:
    """Killed (timeouts count: the mutant made the tests hang) over the non-equivalent."""
    real = row.mutants - row.equivalent - row.not_run
    if real <= 0:
        return "-"
    return f"{100 * (row.killed + row.timed_out) / real:.1f} %"


def show_survivors(unexplained: Sequence[str]) -> None:
    for entry in unexplained:
        group, _, rest = entry.partition("/")
        name = rest.split(" ")[0]
        print(f"\n--- unexplained survivor {entry}")
        shown = subprocess.run(
            [sys.executable, "-m", "tools.mutmut_run", "show", name],
            cwd=WORK / group,
            capture_output=True,
            text=True,
            check=False,
        )
        print(shown.stdout.strip() or shown.stderr.strip())


def stale_equivalents(groups: Sequence[Group], equivalents: dict[str, str]) -> list[str]:
    """Listed equivalents that no longer exist or no longer survive (the list needs a look)."""
    seen: dict[str, str] = {}
    for group in groups:
        for module in group.modules:
            for name, code in exit_codes(group, module).items():
                seen[name] = status_of(code)
    prefixes = tuple(
        m.removesuffix(".py").replace("/", ".") + "." for g in groups for m in g.modules
    )
    return sorted(
        name
        for name in equivalents
        if name.startswith(prefixes) and seen.get(name) not in ("survived", "no tests")
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutate", description=__doc__)
    parser.add_argument(
        "--groups",
        nargs="*",
        default=[g.name for g in GROUPS],
        help="the groups to run (default: all)",
    )
    parser.add_argument("--workers", type=int, default=2, help="mutmut children (default 2)")
    parser.add_argument(
        "--report", action="store_true", help="print the table of the last run without running"
    )
    parser.add_argument(
        "--retest",
        action="store_true",
        help="run the last run's unexplained survivors again with today's tests",
    )
    parser.add_argument(
        "--mutants",
        nargs="+",
        metavar="PATTERN",
        default=(),
        help="with one group: run only the mutants these names or patterns match, with today's "
        "tests (e.g. 'driver.session.run.xǁRunControlǁstart__mutmut_*')",
    )
    parser.add_argument("--quiet", action="store_true", help="no diffs of survivors")
    parser.add_argument(
        "--update-safety",
        action="store_true",
        help="write every group's score of its last run into docs/SAFETY.md's hazard table",
    )
    parser.add_argument(
        "--list-equivalents",
        action="store_true",
        help="print the equivalent mutants as a markdown table (docs/QA.md)",
    )
    args = parser.parse_args(argv)
    by_name = {g.name: g for g in GROUPS}
    unknown = [n for n in args.groups if n not in by_name]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    groups = [by_name[n] for n in args.groups]
    if args.mutants and len(groups) != 1:
        parser.error("--mutants needs exactly one group (--groups NAME)")
    if args.list_equivalents:
        print("| mutant | why it cannot change behaviour |\n|---|---|")
        for name, why in load_equivalents().items():
            print(f"| `{name}` | {why} |")
        return 0
    if shutil.which("mutmut", path=str(Path(sys.executable).parent)) is None:
        print(NO_MUTMUT)
        return 2
    equivalents = load_equivalents()
    if not args.report:
        for group in groups:
            print(f"mutating {group.name}: {', '.join(group.modules)}", flush=True)
            if args.retest or args.mutants:
                seconds = retest_group(group, args.workers, equivalents, args.mutants)
            else:
                seconds = run_group(group, args.workers)
            print(f"  {group.name}: {seconds:.0f} s", flush=True)
    rows, unexplained = tally(groups, equivalents)
    print()
    print_table(rows)
    if not args.quiet:
        print_equivalents(equivalent_survivors(groups, equivalents))
    unrun = [g.name for g in groups if group_score(g, equivalents) == "not run"]
    if unrun:
        print(f"\nno complete run of group(s) {', '.join(unrun)}: run them (without --report)")
    ran = [g for g in groups if g.name not in unrun]
    stale = stale_equivalents(ran, equivalents)
    if stale:
        print(
            "\nlisted as equivalent but no longer surviving (update the list): " + ", ".join(stale)
        )
    if unexplained and not args.quiet:
        show_survivors(unexplained)
    if args.update_safety:
        print(f"\ndocs/SAFETY.md: {update_safety(equivalents)} hazard row(s) updated")
    print(f"\n{len(unexplained)} unexplained survivor(s)")
    return 1 if unexplained or unrun else 0


if __name__ == "__main__":
    sys.exit(main())
