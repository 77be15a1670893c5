"""`python -m benchmarks [--markdown] [NAME ...]`: run bench_*.py modules, print one table."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback
from collections.abc import Sequence

from . import __path__ as _package_path
from .common import Row, render


def available() -> list[str]:
    """Names (without the bench_ prefix) of every benchmark module, sorted."""
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(_package_path)
        if m.name.startswith("bench_")
    )


def main(argv: Sequence[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run benchmarks with same-run baselines and print one table of figures.",
        epilog=f"Benchmarks: {', '.join(names) or 'none'}.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (all if none)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    wanted = [n.removeprefix("bench_").removesuffix(".py") for n in args.names] or names
    unknown = [n for n in wanted if n not in names]
    if unknown:
        print(
            f"benchmarks: no benchmark named {', '.join(unknown)}; "
            f"there are {', '.join(names) or 'none'}.",
            file=sys.stderr,
        )
        return 2
    rows: list[Row] = []
    failed = []
    for name in wanted:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"{__package__}.bench_{name}")
            rows.extend(module.run())
        except Exception as exc:  # report, and let the other benchmarks run
            failed.append(name)
            print(f"benchmarks: {name} failed: {exc}", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
        print(f"  {name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print(render(rows, markdown=args.markdown))
    missed = [r for r in rows if r.met is False]
    if missed:
        print(f"\n{len(missed)} target(s) missed (figures, not a failure).")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
