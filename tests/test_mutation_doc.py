"""`make mutate`'s configuration stays true: every group names modules and tests that exist,
and docs/QA.md lists every mutant tools/mutation_equivalents/*.toml call equivalent, each with a
one-line reason."""

from __future__ import annotations

from pathlib import Path

from tools.mutate import GROUPS, ROOT, load_equivalents

QA = ROOT / "docs" / "QA.md"


def test_every_group_names_modules_and_tests_that_exist() -> None:
    missing = [
        path
        for group in GROUPS
        for path in (*group.modules, *group.tests)
        if not (ROOT / path).is_file()
    ]
    assert not missing, f"tools/mutate.py names files that do not exist: {missing}"


def test_every_equivalents_file_is_a_group() -> None:
    names = {g.name for g in GROUPS}
    files = sorted(p.stem for p in (ROOT / "tools" / "mutation_equivalents").glob("*.toml"))
    assert files and set(files) <= names, files


def test_no_module_is_in_two_groups() -> None:
    modules = [m for g in GROUPS for m in g.modules]
    assert len(modules) == len(set(modules))


def test_every_equivalent_has_a_one_line_reason_and_is_listed_in_qa_md() -> None:
    equivalents = load_equivalents()
    assert equivalents
    text = QA.read_text(encoding="utf-8")
    prefixes = tuple(
        m.removesuffix(".py").replace("/", ".") + "." for g in GROUPS for m in g.modules
    )
    for name, reason in equivalents.items():
        assert name.startswith(prefixes), f"{name} is in no group's modules"
        assert reason.strip() and "\n" not in reason, name
        assert f"`{name}`" in text, f"docs/QA.md does not list the equivalent mutant {name}"


def test_the_runner_is_where_the_doc_says() -> None:
    assert Path(ROOT / "tools" / "mutmut_run.py").is_file()
    assert "make mutate" in QA.read_text(encoding="utf-8")
