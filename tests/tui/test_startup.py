"""The TUI's first screen does not wait for the policy model (pydantic, about a quarter of a
second): importing the program's path to its first screen loads no pydantic, and the built-in
policy is loaded right after that screen is drawn (issue 12's start-up target)."""

from __future__ import annotations

import subprocess
import sys


def test_the_path_to_the_first_screen_imports_no_pydantic():
    code = (
        "import sys; import driver.cli, tui.cli, tui.launch, tui.app; "
        "print('pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_a_workstation_loads_the_built_in_policy_when_first_asked(tmp_path):
    from driver.session import Workstation

    with Workstation.open(tmp_path / "a.db") as ws:
        assert ws.policy.min_days_between_sessions >= 28
        assert ws.policy is ws.policy
