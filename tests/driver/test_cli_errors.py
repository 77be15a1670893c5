"""A bad command line gets one sentence naming what is wrong and where the options are listed,
exit 2, and no usage block (a new user read the usage block as the error)."""

from __future__ import annotations

import pytest

from driver.cli import main


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["tui", "--role", "wizard"], "needlepen tui: Argument --role: invalid choice: 'wizard'"),
        (["log", "export", "--format", "yaml"], "Argument --format: invalid choice: 'yaml'"),
        (["sim"], "needlepen sim: One of the arguments --pty --tcp is required."),
        (["frob"], "needlepen: Argument COMMAND: invalid choice: 'frob'"),
        (["policy", "decide", "--no-such-flag"], "Unrecognized arguments: --no-such-flag."),
    ],
)
def test_a_bad_command_line_is_one_sentence(argv, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert says in err
    assert err.count("\n") == 1, err
    assert "usage:" not in err
    assert err.rstrip().endswith("--help' lists the options.")
