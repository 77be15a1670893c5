"""Launch flags that cannot work together are refused at launch, with one sentence; client
references that look like a name are refused everywhere."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from driver.errors import NotAllowed
from driver.safety.policy import load_policy
from tui.launch import check_flags, client_ref_problem


def _args(**kw: object) -> argparse.Namespace:
    base = dict(port=None, role=None, operator=None, zone=None, client=None, telemetry=None)
    base.update(kw)
    return argparse.Namespace(**base)


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (dict(role="home", zone="bench"), "The home role cannot treat bench"),
        (dict(role="engineer", zone="cheeks"), "The engineer role cannot treat cheeks"),
        (dict(role="clinician", port="sim://?device_class=home"), "A home pen forces"),
        (dict(role="home", operator="c1"), "--operator is for the professional roles"),
        (dict(role="engineer", client="P-1"), "no client"),
        (dict(client="Jane Doe"), "one word"),
        (dict(telemetry=500), "5 to 200 Hz"),
        (dict(role="nurse"), "Unknown role"),
    ],
)
def test_flags_that_cannot_work_are_refused_with_one_sentence(flags, words):
    with pytest.raises(NotAllowed) as err:
        check_flags(_args(**flags), load_policy(None))
    sentence = str(err.value)
    assert words in sentence and sentence.endswith(".") and "\n" not in sentence


@pytest.mark.parametrize(
    "flags",
    [
        dict(role="home", zone="forehead"),
        dict(role="clinician", operator="c1", client="P-7", zone="cheeks"),
        dict(role="engineer", zone="bench"),
        dict(port="sim://?device_class=home", role="home"),
    ],
)
def test_flags_that_work_together_pass(flags):
    check_flags(_args(**flags), load_policy(None))


@pytest.mark.parametrize("ref", ["Jane Doe", " a b ", "P 12", "Dr\tX", "", "   "])
def test_name_like_client_references_are_refused(ref):
    assert client_ref_problem(ref)


@pytest.mark.parametrize("ref", ["P-0042", "k7-smith", "self", "CHART/12"])
def test_pseudonyms_pass(ref):
    assert client_ref_problem(ref) is None


def test_the_real_program_refuses_at_launch_and_changes_nothing(tmp_path):
    db = tmp_path / "audit.db"
    cmd = [sys.executable, "-m", "driver.cli", "tui", "--role", "home", "--zone", "bench"]
    out = subprocess.run(
        [*cmd, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode != 0
    assert "The home role cannot treat bench" in out.stderr + out.stdout
    assert not db.exists()  # nothing was opened, nothing recorded
