"""The size rules of DESIGN for the packages that follow them: no module over 500 lines and no
function (or method) over 80 lines, so each file holds one subsystem a reader can take in.

Scope: protocol/, simulator/, driver/ and tui/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "simulator", "driver", "tui")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80

MODULES = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def long_functions(source: str) -> list[tuple[str, int]]:
    """(qualified name, lines) of every function or method longer than MAX_FUNCTION_LINES,
    counted from its first decorator to its last line."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                    length = (child.end_lineno or child.lineno) - first + 1
                    if length > MAX_FUNCTION_LINES:
                        found.append((name, length))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def test_the_scope_is_not_empty() -> None:
    assert {p.parts[len(ROOT.parts)] for p in MODULES} == set(PACKAGES)


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_is_over_500_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_name(path)} has {lines} lines (at most 500)"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_function_is_over_80_lines(path: Path) -> None:
    too_long = long_functions(path.read_text(encoding="utf-8"))
    assert not too_long, f"{_name(path)}: " + ", ".join(f"{n} ({k} lines)" for n, k in too_long)


def test_the_checker_measures_functions_and_methods_with_their_decorators() -> None:
    body = "\n".join(["    x = 1"] * 79)
    fits = f"@staticmethod\ndef f():\n{body}\n"  # 81 lines with the decorator
    assert long_functions(fits) == [("f", 81)]
    nested = "class C:\n    def m(self):\n" + "\n".join(["        x = 1"] * 79) + "\n"
    assert long_functions(nested) == []  # 80 lines: allowed
    nested += "        y = 2\n"
    assert long_functions(nested) == [("C.m", 81)]
