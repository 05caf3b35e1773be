"""Errors the command line turns into one message and exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["UserInputError", "check_database", "describe", "load_model"]

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


def check_database(url: str, *, fresh: bool = False, name: str = "--database-url") -> None:
    """Raise `UserInputError` (one message, exit 2) for a database URL nobody can open,
    instead of a driver's traceback; ``fresh``: also for one that already holds a region
    (the simulator seeds its own); ``name``: the option or setting the message names."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    from api.db.engine import make_engine

    try:
        engine = make_engine(url)
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise UserInputError(f"{name}: not a database URL ({type(error).__name__})") from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            used = fresh and inspect(connection).has_table("regions")
            if used and connection.execute(text("SELECT count(*) FROM regions")).scalar():
                raise UserInputError(f"{name}: not a fresh database (it holds a region)")
    except SQLAlchemyError as error:
        raise UserInputError(f"{name}: cannot open the database ({type(error).__name__})") from None
    finally:
        engine.dispose()
