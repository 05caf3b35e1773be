"""Migrations go up and down on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from api.db.migrate import alembic_config, downgrade, upgrade


def test_up_down_up_and_check(db_url: str) -> None:
    """Down to base leaves no tables; up again; `alembic check` finds nothing to generate."""
    downgrade(db_url, "base")
    engine = create_engine(db_url)
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert tables == set()
    upgrade(db_url)
    command.check(alembic_config(db_url))
    engine = create_engine(db_url)
    assert "access_log" in inspect(engine).get_table_names()
    engine.dispose()
