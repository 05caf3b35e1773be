"""The one `nachtroute` command line.

Each concern registers its subcommands from its own module, so the solver, the road network
and the service grow their commands without touching each other's code.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from api.cli import (
    _errors,
    bench_commands,
    geo_commands,
    mobile_commands,
    optimizer_commands,
    service_commands,
    sim_commands,
)
from api.keysafe import KeySafeStore

__all__ = ["main"]


class _Refused(Exception):
    """A command line argparse refused: the parser that refused it and why."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """argparse, with its refusals raised (`main` prints one message naming what was wrong,
    with the usage of the (sub)command it was given to) and choices named as typed."""

    def error(self, message: str) -> NoReturn:
        raise _Refused(self, message)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        # argparse says "argument which: invalid choice": ``which`` is our variable's name.
        if action.choices is not None and value not in action.choices:
            name = action.option_strings[0] if action.option_strings else action.metavar
            choices = ", ".join(map(str, action.choices))
            raise argparse.ArgumentError(
                None, f"{f'{name} ' if name else ''}{value!r} is not one of: {choices}"
            )


def _unknown_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """The options in ``argv`` that ``parser`` (the top level or one subcommand) does not
    know: after its subcommand's name, before a ``--``."""
    words = parser.prog.split()[1:]
    start = 0
    for word in words:  # where this subcommand's own words begin
        start = next((i + 1 for i in range(start, len(argv)) if argv[i] == word), start)
    if not words:  # the top level: the words before the command
        commands = {
            name
            for action in parser._actions
            if isinstance(action, argparse._SubParsersAction)
            for name in action.choices
        }
        argv = list(itertools.takewhile(lambda word: word not in commands, argv))
    known = parser._option_string_actions
    found = []
    for word in argv[start:]:
        if word == "--":
            break
        option = word.startswith("-") and word != "-" and not _is_number(word)
        if option and word.split("=", 1)[0] not in known:
            found.append(word)
    return found


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command parser ``args`` ended in (``nachtroute mobile openapi``'s)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = action.choices.get(getattr(args, action.dest, None) or "")
            if sub is not None:
                return _chosen(sub, args)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """``argv`` parsed, or `_Refused` naming first what was not understood: an unknown option
    used to be hidden behind "the following arguments are required" and reported with the
    top-level usage."""
    try:
        args, extra = parser.parse_known_args(argv)
    except _Refused as refused:
        unknown = _unknown_options(refused.parser, argv)
        if unknown and "required" in refused.message:
            raise _Refused(
                refused.parser,
                f"unrecognized arguments: {' '.join(unknown)} (and {refused.message})",
            ) from None
        raise
    if extra:
        raise _Refused(_chosen(parser, args), f"unrecognized arguments: {' '.join(extra)}")
    return args


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every subcommand registered."""
    parser = _Parser(
        prog="nachtroute",
        description="Routes for a shared regional night team of district nurses.",
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    subcommands.required = True
    optimizer_commands.register(subcommands)
    bench_commands.register(subcommands)
    geo_commands.register(subcommands)
    service_commands.register(subcommands)
    mobile_commands.register(subcommands, keysafe_store=_keysafe_store)
    sim_commands.register(subcommands)
    sim_commands.register_report(subcommands)
    return parser


def _keysafe_store() -> KeySafeStore:
    from api.cli.service_commands import _settings
    from api.repositories.phone import open_keysafe_store  # the database only when asked

    _errors.check_database_to_read(_settings())  # a missing database is not created
    return open_keysafe_store()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; bad input prints one message and exits 2, never a traceback."""
    parser = build_parser()
    try:
        args = _parse(parser, sys.argv[1:] if argv is None else list(argv))
    except _Refused as refused:
        refused.parser.print_usage(sys.stderr)
        print(f"{refused.parser.prog}: error: {refused.message}", file=sys.stderr)
        return 2
    try:
        result: int = args.handler(args)
    except _errors.UserInputError as error:
        print(f"nachtroute: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: not an error of ours.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("nachtroute: interrupted", file=sys.stderr)
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
