"""The one `nachtroute` command line.

Each concern registers its subcommands from its own module, so the solver, the road network
and the service grow their commands without touching each other's code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
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
    args = parser.parse_args(argv)
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
