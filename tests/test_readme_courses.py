"""The README's "Courses and records" example runs as written and prints what it says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_courses_example_plans_treats_and_reports(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Courses and records") :]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    out = subprocess.run(
        [sys.executable, "-c", block.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    first, zone, verified = out.stdout.splitlines()
    assert first == "acne scars, session 1 of 4"
    record = json.loads(zone)
    assert record["zone"] == "cheeks" and record["last_depth_mm"] == 1.0
    assert record["next_from"] > record["last_date"] and record["timing"] == "too_soon"
    assert verified == "True"
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "acne scars, session 1 of 4" in report and "<svg" in report
