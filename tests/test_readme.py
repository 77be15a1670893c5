"""The examples in README.md and docs/*.md work as written (issue 12 item 6).

Every ```toml block must be a policy that `needlepen policy check` accepts; every ```python
block runs (a file's blocks in order, in one fresh interpreter in an empty folder, since later
blocks build on earlier ones); the README's Python example prints what it says.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


TOML = [(p, i, b) for p in DOCS for i, b in enumerate(blocks(p, "toml"))]
PYTHON = [p for p in DOCS if blocks(p, "python")]


def test_the_examples_are_found() -> None:
    names = {p.name for p, _, _ in TOML}
    assert {"README.md", "GOVERNOR.md"} <= names
    assert {"README.md", "AUDIT.md", "PROTOCOL.md", "SIMULATOR.md"} <= {p.name for p in PYTHON}


@pytest.mark.parametrize("path, index, text", TOML, ids=[f"{p.name}-toml{i}" for p, i, _ in TOML])
def test_toml_example_passes_policy_check(
    tmp_path: Path, path: Path, index: int, text: str
) -> None:
    policy = tmp_path / "example.toml"
    policy.write_text(text, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "driver.cli", "policy", "check", str(policy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, f"{path.name} TOML example {index}: {out.stderr}"
    assert "valid policy" in out.stdout


@pytest.mark.parametrize("path", PYTHON, ids=[p.name for p in PYTHON])
def test_python_examples_run(tmp_path: Path, path: Path) -> None:
    code = "\n".join(blocks(path, "python"))
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, f"{path.name}: {out.stderr}"


def test_readme_python_example_prints_what_it_says(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = text.index("<!-- readme-example")
    block = re.search(r"```python\n(.*?)```", text[marker:], re.S)
    assert block is not None
    out = subprocess.run(
        [sys.executable, "-c", block.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("allowed 0.5")
    assert lines[1] == "clamped"
    assert lines[-1].startswith("IDLE ")
    assert (tmp_path / "treat.db").exists()


def test_the_license_is_an_spdx_string() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert isinstance(project["license"], str)  # not the deprecated table form


def test_make_demo_installs_only_what_the_demo_needs(tmp_path: Path) -> None:
    out = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "demo", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "pip install --quiet -e ." in out.stdout
    assert "[test]" not in out.stdout and "[bench]" not in out.stdout
