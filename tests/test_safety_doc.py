"""docs/SAFETY.md must stay true: every test it names exists, and every hazard names one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "SAFETY.md"
CITE = re.compile(r"(tests/[\w/]+\.py)::([\w]+)")


def defined_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    for node in tree.body:  # e.g. TestPenMachine = PenMachine.TestCase
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        # a thin runner of shipped checks: `from driver.testing.conformance.checks.x import *`
        if isinstance(node, ast.ImportFrom) and node.module and node.names[0].name == "*":
            source = ROOT / Path(*node.module.split(".")).with_suffix(".py")
            if source.is_file():
                names |= defined_names(source)
    return names


def hazard_rows() -> list[str]:
    return [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| H")]


def test_every_cited_test_exists():
    missing = []
    for path_text, name in CITE.findall(DOC.read_text(encoding="utf-8")):
        path = ROOT / path_text
        if not path.is_file() or name not in defined_names(path):
            missing.append(f"{path_text}::{name}")
    assert not missing, f"docs/SAFETY.md cites tests that do not exist: {missing}"


def test_every_hazard_has_a_control_and_a_test():
    rows = hazard_rows()
    assert len(rows) >= 12
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 5, row
        assert cells[2], f"no control: {row}"
        assert CITE.search(cells[3]), f"no test: {row}"


def test_every_hazard_has_the_mutation_score_of_its_control_or_says_why_not():
    from tools.mutate import GROUPS, SCORE_ITEM

    known = {g.name for g in GROUPS}
    for row in hazard_rows():
        cell = row.strip().strip("|").split("|")[-1].strip()
        if cell.startswith("not mutated ("):
            continue
        items = [m[1] for m in SCORE_ITEM.finditer(cell)]
        assert items, f"no mutation score and no reason: {row[:40]}"
        assert set(items) <= known, f"unknown mutation group in {row[:40]}: {items}"
        assert SCORE_ITEM.sub("", cell).replace(",", "").strip() == "", cell


def test_the_design_hazards_are_all_listed():
    text = DOC.read_text(encoding="utf-8").lower()
    for hazard in (
        "too deep for the zone",
        "wrong role",
        "link lost while running",
        "corrupt frame",
        "duplicated or resent frame",
        "host crash",
        "pen reboot",
        "stuck or repeated key",
        "reused cartridge",
        "tampered or loosened policy",
        "tampered audit log",
        "treating too soon",
        "contraindication",
    ):
        assert hazard in text, f"docs/SAFETY.md does not list the hazard '{hazard}'"
