"""The `needlepen` dispatcher and the info/ports commands, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

from driver.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driver.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_version_and_help_list_every_command():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("needlepen ")
    helptext = run("--help").stdout
    for command in ("policy", "operators", "log", "info", "ports", "sim", "tui"):
        assert f"    {command}" in helptext


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: needlepen" in capsys.readouterr().out


def test_info_on_the_simulator(capsys):
    assert main(["info", "--port", "sim://?device_class=home&seed=4", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["device_class"] == "home"
    assert info["depth_max_um"] < 1000
    assert info["proto"] == 1


def test_info_readable(capsys):
    assert main(["info", "--port", "sim://?seed=4"]) == 0
    out = capsys.readouterr().out
    assert "0.25-3.00 mm" in out and "watchdog" in out


def test_missing_port_is_one_sentence_no_traceback(tmp_path):
    out = run("info", "--port", str(tmp_path / "ttyUSB9"))
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1
    assert out.stderr.startswith("needlepen: Cannot open ")
    assert "Traceback" not in out.stderr


def test_bad_sim_option_is_one_sentence(capsys):
    assert main(["info", "--port", "sim://?colour=blue"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("needlepen: ") and err.count("\n") == 1


def test_ports_lists_or_says_none(capsys):
    assert main(["ports"]) == 0
    out = capsys.readouterr().out
    assert out.strip()


def test_a_refusal_is_one_sentence_and_a_bug_says_internal_error(monkeypatch, capsys):
    """NeedlepenError (and OSError) print their sentence; any other exception is a bug and is
    reported as one, with how to see the traceback, never dressed up as a user error."""
    import argparse

    import driver.cli as cli
    from driver.errors import NotAllowed

    def parser_with(exc: BaseException):
        def handler(args: argparse.Namespace) -> int:
            raise exc

        parser = argparse.ArgumentParser(prog="needlepen")
        parser.set_defaults(handler=handler)
        return lambda *a, **k: parser

    monkeypatch.delenv("NEEDLEPEN_DEBUG", raising=False)
    monkeypatch.setattr(cli, "build_parser", parser_with(NotAllowed("Choose a zone first.")))
    assert main([]) == 1
    assert capsys.readouterr().err == "needlepen: Choose a zone first.\n"
    monkeypatch.setattr(cli, "build_parser", parser_with(KeyError("row[8]")))
    assert main([]) == 70
    err = capsys.readouterr().err
    assert err == "needlepen: internal error (NEEDLEPEN_DEBUG=1 shows the traceback).\n"
    monkeypatch.setenv("NEEDLEPEN_DEBUG", "1")
    import pytest

    with pytest.raises(KeyError):
        main([])
