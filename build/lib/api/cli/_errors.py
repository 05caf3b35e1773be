"""Errors the command line turns into one message and exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["UserInputError", "describe", "load_model"]

Model = TypeVar("Model", bound=BaseModel)


class UserInputError(ValueError):
    """Bad input from the person at the keyboard: the message names the file and field."""


def describe(error: ValidationError, *, limit: int = 8) -> str:
    """The validation errors as ``field.path: message`` lines, without echoing the input."""
    lines = []
    for item in error.errors(include_input=False, include_url=False)[:limit]:
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{path or '(top level)'}: {message}")
    more = error.error_count() - limit
    if more > 0:
        lines.append(f"... and {more} more")
    return "\n  ".join(lines)


def load_model(model: type[Model], path: Path | str) -> Model:
    """Read and validate a JSON file, or raise `UserInputError` naming the file and field."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserInputError(f"{file}: cannot read it ({error.__class__.__name__})") from None
    try:
        return model.model_validate_json(text)
    except ValidationError as error:
        raise UserInputError(f"{file}: invalid {model.__name__}:\n  {describe(error)}") from None
