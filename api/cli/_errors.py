"""Errors the command line turns into one message and exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

__all__ = [
    "UserInputError",
    "check_database",
    "check_database_to_read",
    "check_set_up_database",
    "describe",
    "load_model",
    "shown_url",
]

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


def shown_url(url: str) -> str:
    """``url`` as a message may show it: the password masked, a SQLite URL as its file."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "(not a database URL)"  # never echo it: it may hold a password
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def absolute_sqlite_url(url: str) -> str:
    """``url`` with a relative SQLite file made absolute from the current folder; any other
    URL (or one that does not parse: the check after says so) unchanged. A process started
    in another folder (the simulator's service runs in its temporary folder) would otherwise
    open, and create, a different file."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return url
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or Path(database).is_absolute():
        return url
    return parsed.set(database=str(Path(database).resolve())).render_as_string(hide_password=False)


def check_set_up_database(url: str, *, name: str, hint: str) -> None:
    """For commands that only read: raise `UserInputError` (exit 2) naming the database
    (file or URL, no password) when it is missing, cannot be opened or holds no nachtroute
    tables, with ``hint`` (what to do). Creates nothing: a SQLite file that does not exist
    stays absent, one that does is opened read-only."""
    import sqlite3

    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from api.db.engine import make_engine

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise UserInputError(f"{name}: not a database URL; {hint}") from None
    shown = shown_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise UserInputError(f"{name}: an in-memory database is empty; {hint}")
        file = Path(parsed.database)
        if not file.is_file():
            raise UserInputError(
                f"{name}: no database at {shown} (nothing was created there); {hint}"
            )
        try:
            reader = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
            try:
                found = reader.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'regions'"
                ).fetchone()
            finally:
                reader.close()
        except sqlite3.Error as error:
            raise UserInputError(
                f"{name}: cannot read {shown} ({error.__class__.__name__}); {hint}"
            ) from None
    else:
        try:
            engine = make_engine(url)
        except (SQLAlchemyError, ImportError, ValueError) as error:
            raise UserInputError(f"{name}: not a database URL ({type(error).__name__})") from None
        try:
            with engine.connect() as connection:
                found = inspect(connection).has_table("regions")
        except SQLAlchemyError as error:
            raise UserInputError(
                f"{name}: cannot open {shown} ({type(error).__name__}); {hint}"
            ) from None
        finally:
            engine.dispose()
    if not found:
        raise UserInputError(
            f"{name}: {shown} is not set up (no nachtroute tables: the service creates them "
            f"when it starts); {hint}"
        )


def check_database_to_read(
    settings: Any, *, option: str | None = None, given: bool = False
) -> None:
    """`check_set_up_database` for the service's database as a read-only command finds it
    in ``settings``: the message says where the URL came from (``option``, e.g.
    ``--database-url``, when ``given`` on the command line; NACHTROUTE_DATABASE_URL; or the
    default file in the data directory), how to point the command elsewhere and, beside
    it, where the demo's database is."""
    url: str = settings.resolved_database_url
    if option and given:
        name = option
    elif settings.database_url:
        name = "NACHTROUTE_DATABASE_URL"
    else:
        name = "NACHTROUTE_DATABASE_URL not set, the default"
    either = f"{option} or " if option else ""
    hint = f"point {either}NACHTROUTE_DATABASE_URL at the service's database"
    demo = Path(settings.data_dir) / "demo.sqlite"
    if demo.is_file() and shown_url(url) != str(demo):
        hint += f" (the demo's is sqlite:///{demo})"
    check_set_up_database(url, name=name, hint=hint)
