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


def test_0004_seals_existing_totp_secrets_and_opens_them_on_the_way_down(db_url: str) -> None:
    """A plaintext secret from before 0004 is sealed going up (sign-in still reads it) and
    is plaintext again going down."""
    from sqlalchemy import text

    from api.core.config import Settings
    from api.totp_vault import is_sealed, keyring_for, unseal

    plain = "TESTTESTTESTTEST"
    downgrade(db_url, "0003")
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (username, password_hash, role, totp_secret, active, "
                "created_at) VALUES ('test-officer', 'x', 'admin', :secret, true, "
                "CURRENT_TIMESTAMP)"
            ),
            {"secret": plain},
        )

    def stored() -> tuple[int, str]:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT id, totp_secret FROM users WHERE username = 'test-officer'")
            ).one()
        return int(row[0]), str(row[1])

    try:
        upgrade(db_url)
        user_id, sealed = stored()
        assert is_sealed(sealed) and plain not in sealed
        assert unseal(sealed, user_id=user_id, keyring=keyring_for(Settings())) == plain
        downgrade(db_url, "0003")
        assert stored() == (user_id, plain)
    finally:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM users WHERE username = 'test-officer'"))
        engine.dispose()
        upgrade(db_url)
