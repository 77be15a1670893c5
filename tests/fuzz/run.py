"""`python -m tests.fuzz.run --seconds N`: coverage-guided fuzzing with atheris, time-bounded.

Runs each target of tests/fuzz/targets.py (both decoders and the policy loader) for N/3
seconds, one after the other, each in its own subprocess under atheris (libFuzzer), starting
from a seed corpus of valid inputs. Prints, per target, the executions, the coverage reached
and the findings (crash, timeout or out-of-memory inputs, saved as files), and exits 1 when
any target found something, 2 when atheris is missing. `make fuzz` runs it with
FUZZ_SECONDS (default 60).

    python -m tests.fuzz.run --seconds 600 --targets decoder_host --artifacts fuzz-out

A finding is reproduced with `python -m tests.fuzz.run --replay FILE --targets NAME`, which runs
the target once on the file without atheris and shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

TARGET_NAMES = ("decoder_host", "decoder_pen", "policy_loader")
#: Also accepted by --targets: a target with a planted finding that proves the runner works.
EXTRA_TARGETS = ("selftest",)
#: What atheris instruments for coverage feedback (the code under test, plus the stdlib TOML
#: parser the loader drives; pydantic's core is compiled and not instrumented).
INSTRUMENT = ("protocol", "driver", "tomllib", "tests.fuzz.targets")
MAX_LEN = 4096
FINDING_PREFIXES = ("crash-", "timeout-", "oom-", "leak-", "slow-unit-")
NO_ATHERIS = (
    "needlepen fuzz: atheris is not installed, so nothing was fuzzed; install it with "
    "`.venv/bin/python -m pip install -e '.[fuzz]'` (it needs a Python and platform that "
    "atheris ships wheels for, or clang with libFuzzer) and run `make fuzz` again."
)


@dataclass
class Outcome:
    target: str
    seconds: float
    returncode: int
    executions: int | None = None
    coverage: int | None = None
    corpus: int | None = None
    findings: list[Path] = field(default_factory=list)
    tail: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.findings


# --- the child: one target under atheris ---------------------------------------------------------


def child(target: str, libfuzzer_args: list[str]) -> None:
    """Run one target under atheris; never returns (libFuzzer exits the process)."""
    import atheris

    with atheris.instrument_imports(include=list(INSTRUMENT)):
        from tests.fuzz import targets

    fn = targets.TARGETS[target]
    atheris.Setup([sys.argv[0], *libfuzzer_args], fn)
    atheris.Fuzz()


# --- the parent: run every target, report -------------------------------------------------------

_STAT = re.compile(r"stat::(\w+):\s*(\d+)")
_DONE = re.compile(r"#(\d+)\s+DONE\s+cov:\s*(\d+)(?:\s+ft:\s*\d+)?\s+corp:\s*(\d+)")
_PULSE = re.compile(r"#(\d+)\s+\w+\s+cov:\s*(\d+)(?:\s+ft:\s*\d+)?\s+corp:\s*(\d+)")


def write_seeds(target: str, corpus: Path) -> None:
    from tests.fuzz.targets import seeds

    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds(target)):
        (corpus / f"seed-{i:03d}").write_bytes(seed)


def run_target(target: str, seconds: int, corpus: Path, artifacts: Path, verbose: bool) -> Outcome:
    artifacts.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in artifacts.iterdir()}
    args = [
        sys.executable,
        "-m",
        "tests.fuzz.run",
        "--child",
        target,
        "--",
        f"-max_total_time={seconds}",
        f"-max_len={MAX_LEN}",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}{os.sep}",
        str(corpus),
    ]
    start = time.monotonic()
    proc = subprocess.run(
        args,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=seconds * 3 + 120,
        check=False,
    )
    elapsed = time.monotonic() - start
    log = proc.stdout + proc.stderr
    if verbose:
        print(log)
    out = Outcome(target, elapsed, proc.returncode, tail="\n".join(log.splitlines()[-40:]))
    stats = {k: int(v) for k, v in _STAT.findall(log)}
    out.executions = stats.get("number_of_executed_units")
    for pattern in (_DONE, _PULSE):
        found = pattern.findall(log)
        if found:
            runs, cov, corp = found[-1]
            out.coverage, out.corpus = int(cov), int(corp)
            if out.executions is None:
                out.executions = int(runs)
            break
    out.findings = sorted(
        p
        for p in artifacts.iterdir()
        if p.name not in before and p.name.startswith(FINDING_PREFIXES)
    )
    return out


def replay(target: str, path: Path) -> int:
    """Run `target` once on the bytes in `path`, without atheris (a finding's traceback)."""
    from tests.fuzz.targets import TARGETS

    TARGETS[target](path.read_bytes())
    print(f"{target}: {path} ran without a finding.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz.run",
        description="Fuzz the decoders and the policy loader with atheris, time-bounded.",
    )
    parser.add_argument(
        "--seconds", type=int, default=60, help="total time, split evenly between the targets"
    )
    parser.add_argument(
        "--targets",
        default=",".join(TARGET_NAMES),
        help=f"comma-separated targets (default: all of {', '.join(TARGET_NAMES)})",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=None,
        help="where findings are saved (default: a temp dir, kept only when there are findings)",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="keep and grow the corpus here, one subdirectory per target (default: a temp dir)",
    )
    parser.add_argument("--replay", type=Path, default=None, help="run a target once on FILE")
    parser.add_argument("--verbose", action="store_true", help="print libFuzzer's own output")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("libfuzzer", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in TARGET_NAMES + EXTRA_TARGETS]
    if unknown or not targets:
        print(
            f"needlepen fuzz: no target named {', '.join(unknown) or '(none)'}; "
            f"the targets are {', '.join(TARGET_NAMES)}.",
            file=sys.stderr,
        )
        return 2
    if args.child:
        child(args.child, list(args.libfuzzer))
        return 0  # pragma: no cover - atheris exits the process
    if args.replay is not None:
        return replay(targets[0], args.replay)
    if args.seconds < len(targets):
        print(
            f"needlepen fuzz: give at least {len(targets)} seconds (1 per target).",
            file=sys.stderr,
        )
        return 2
    if importlib.util.find_spec("atheris") is None:
        print(NO_ATHERIS)
        return 2

    per = args.seconds // len(targets)
    scratch = Path(tempfile.mkdtemp(prefix="needlepen-fuzz-"))
    artifacts = args.artifacts or scratch / "findings"
    corpus_root = args.corpus or scratch / "corpus"
    outcomes: list[Outcome] = []
    try:
        for target in targets:
            corpus = corpus_root / target
            write_seeds(target, corpus)
            print(f"fuzzing {target} for {per} s ...", flush=True)
            outcome = run_target(target, per, corpus, artifacts / target, args.verbose)
            outcomes.append(outcome)
            if not outcome.ok and not args.verbose:
                print(outcome.tail)
        print(report(outcomes))
    finally:
        if args.artifacts is None and not any(o.findings for o in outcomes):
            shutil.rmtree(scratch, ignore_errors=True)
        elif args.artifacts is None:
            print(f"findings kept in {artifacts}")
    return 0 if all(o.ok for o in outcomes) else 1


def report(outcomes: list[Outcome]) -> str:
    def n(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    rows = [("target", "seconds", "executions", "exec/s", "coverage", "corpus", "findings")]
    for o in outcomes:
        rate = "-" if not o.executions else f"{o.executions / max(o.seconds, 1e-9):,.0f}"
        found = ", ".join(p.name for p in o.findings) or ("none" if o.ok else "child failed")
        rows.append(
            (o.target, f"{o.seconds:.0f}", n(o.executions), rate, n(o.coverage), n(o.corpus), found)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = sum(o.executions or 0 for o in outcomes)
    bad = [o for o in outcomes if not o.ok]
    verdict = (
        f"{total:,} executions, no findings."
        if not bad
        else f"{len(bad)} target(s) with findings: {', '.join(o.target for o in bad)}; "
        "replay one with --replay FILE --targets NAME."
    )
    return "\n".join([*lines, verdict])


if __name__ == "__main__":
    sys.exit(main())
