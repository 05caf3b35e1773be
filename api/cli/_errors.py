"""Errors the command line turns into one message and exit code 2."""

from __future__ import annotations

__all__ = ["UserInputError"]


class UserInputError(ValueError):
    """Bad input from the person at the keyboard: the message names the file and field."""
