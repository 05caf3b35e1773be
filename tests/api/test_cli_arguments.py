"""A command line argparse cannot take: one message naming what was wrong, with the usage of
the command it was given to, exit 2."""

from __future__ import annotations

import pytest

from api.cli import main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as stop:  # how argparse used to leave
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    assert captured.out == ""
    return code, captured.err


@pytest.mark.parametrize(
    ("argv", "usage", "named"),
    [
        # "the following arguments are required: COMMAND", the option unnamed
        (["--frobnicate"], "usage: nachtroute [-h] COMMAND", "--frobnicate"),
        # only "problem is required"
        (["solve", "--bogus"], "usage: nachtroute solve", "--bogus"),
        # the top-level usage, for a mistake in `openapi`'s options
        (["openapi", "--bogus"], "usage: nachtroute openapi", "--bogus"),
        (["mobile", "openapi", "--bogus"], "usage: nachtroute mobile openapi", "--bogus"),
        (["schema", "plan", "--x=3"], "usage: nachtroute schema", "--x=3"),
    ],
)
def test_an_unknown_option_is_named_with_its_commands_usage(
    argv: list[str], usage: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(argv, capsys)
    assert code == 2
    assert err.startswith(usage), err
    last = err.strip().splitlines()[-1]
    assert f"error: unrecognized arguments: {named}" in last, err
    assert "Traceback" not in err


def test_a_wrong_choice_names_the_value_and_the_choices_not_our_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`schema banana` said "argument which: invalid choice": `which` is a name in our code."""
    code, err = _run(["schema", "banana"], capsys)
    assert code == 2
    assert "which" not in err
    assert "nachtroute schema: error: 'banana' is not one of: plan, problem, visit" in err
    code, err = _run(
        ["geo", "matrix", "--network", "x", "--points", "p", "--profile", "boat"], capsys
    )
    assert code == 2
    assert "error: --profile 'boat' is not one of: car, bike" in err


def test_a_missing_argument_alone_is_still_said_as_before(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = _run(["solve"], capsys)
    assert code == 2
    assert "nachtroute solve: error: the following arguments are required: problem" in err
    assert "unrecognized" not in err
