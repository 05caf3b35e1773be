"""`nachtroute` subcommands of the service package."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    """Add this package's subcommands (none yet)."""
