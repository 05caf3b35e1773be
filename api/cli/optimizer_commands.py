"""`nachtroute` subcommands of the optimizer: solve, evaluate, quote, schema."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    """Add the optimizer's subcommands."""
