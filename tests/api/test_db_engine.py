"""Pooled PostgreSQL connections are pinged only after sitting idle
(`api.db.engine.PING_IDLE_SECONDS`), and a connection the server dropped meanwhile is
replaced at checkout, the request never seeing it."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from api.db import engine as engine_module
from api.db.engine import make_engine


def _terminate(url: str, pid: int) -> None:
    """The server drops connection ``pid`` (as a restart or an idle timeout would)."""
    admin = make_engine(url)
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            connection.commit()
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_replaced_at_checkout(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PING_IDLE_SECONDS", 0.0)  # every checkout is "idle"
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _terminate(postgres_url, first)
        with engine.connect() as connection:
            second = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_without_the_idle_ping_a_dropped_connection_fails_once(postgres_url: str) -> None:
    """What the ping is for (and that the test above can fail): a connection used moments
    ago is not pinged, so one the server dropped fails the next statement."""
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _terminate(postgres_url, first)
        with pytest.raises(exc.DBAPIError), engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        with engine.connect() as connection:  # the pool was invalidated: a new connection
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
