"""The README's Python example runs as written (against the built-in simulator)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_python_example_runs(tmp_path):
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
