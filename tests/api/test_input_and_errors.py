"""Input and errors: a body size limit before parsing, text the database cannot store, blank
names, integrity errors, reads that change nothing, and logs without personal data."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from api.core.log import NoTracebacks
from api.db.models import Night, Organisation
from api.deps import SessionDep
from api.main import create_app
from tests.api.conftest import NIGHT, World, new_client
from tests.api.conftest import test_settings as settings_for

NAME = "Mevrouw Zeldzaamnaam"
ADDRESS = "Verborgenlaan 77"
LIMIT = 1_000_000  # the default of Settings.max_body_bytes


def _client_body(**extra: object) -> dict[str, object]:
    return {
        "display_name": NAME,
        "address": ADDRESS,
        "lat": 52.99,
        "lon": 6.56,
        "access_instructions": "achterdeur",
        **extra,
    }


# ------------------------------------------------------------------ body size


def test_a_body_over_the_limit_with_content_length_is_refused_unread(world: World) -> None:
    """2 MB declared: 413 problem+json, before authentication or parsing."""
    response = world.client.post(
        "/partner/v1/clients",
        content=b"{" + b" " * (2 * LIMIT) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413
    assert response.headers["x-request-id"]


def test_a_60_mb_chunked_body_without_credentials_is_refused_before_parsing(
    sqlite_url: str, tmp_path: Path
) -> None:
    """No Content-Length: the body is counted as it streams in from a generator; the server
    stops reading just past the limit and answers 413 (nothing was buffered or parsed)."""
    app = create_app(settings_for(sqlite_url, tmp_path))
    chunk = b"x" * 65_536
    total = 60 * 1024 * 1024
    pulled = 0

    def body() -> Iterator[bytes]:
        nonlocal pulled
        while pulled < total:
            pulled += len(chunk)
            yield chunk

    chunks = body()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        piece = next(chunks, b"")
        return {"type": "http.request", "body": piece, "more_body": pulled < total}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/partner/v1/clients",
        "raw_path": b"/partner/v1/clients",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    assert dict(start["headers"])[b"content-type"] == b"application/problem+json"
    assert pulled <= LIMIT + 2 * len(chunk)  # stopped at the limit, not at 60 MB


# ------------------------------------------------------------------ text and names


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("display_name", "Demo\x00client"),
        ("address", "Brink\x00 1"),
        ("access_instructions", "ring\x00twice"),
        ("external_ref", "REF\x00"),
    ],
)
def test_a_nul_character_is_refused_naming_the_field(world: World, field: str, value: str) -> None:
    org = world.seeded.home_care[0]
    response = world.client.post(
        "/partner/v1/clients", json=_client_body(**{field: value}), headers=world.key(org)
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [f"body.{field}"]


@pytest.mark.postgres
def test_a_nul_in_a_name_on_postgres_is_422_and_nothing_personal_is_logged(
    seeded_postgres_url: tuple[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL cannot store NUL in text: refused by validation, never a 500."""
    from tests.api.conftest import make_world

    caplog.set_level(logging.DEBUG)
    for world in make_world(*seeded_postgres_url, tmp_path):
        key = world.key(world.seeded.home_care[0])
        made = world.client.post(
            "/partner/v1/clients", json=_client_body(display_name=NAME + "\x00"), headers=key
        )
        assert made.status_code == 422, made.text
        assert made.json()["errors"][0]["field"] == "body.display_name"
        client_id = new_client(world, world.seeded.home_care[0])
        patched = world.client.patch(
            f"/partner/v1/clients/{client_id}", json={"address": ADDRESS + "\x00"}, headers=key
        )
        assert patched.status_code == 422
        login = world.client.post("/auth/token", json={"username": NAME + "\x00", "password": "x"})
        assert login.status_code == 422
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert NAME not in logged and ADDRESS not in logged


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("display_name", "Demo \u202eeilC", "bidirectional"),
        ("address", "Brink 1\u2066 9401", "bidirectional"),
        ("display_name", "Demo\nClient", "one line"),
        ("external_ref", "REF\x1b[31m", "one line"),
        ("address", "Brink\x85 1", "one line"),
    ],
)
def test_a_name_is_one_line_shown_as_stored(
    world: World, field: str, value: str, said: str
) -> None:
    """A client's name with a right-to-left override showed on the phone and the board in
    another order than stored, and an organisation's name took bidi controls too (s22-red):
    names, addresses and references are one line without control characters; outer spaces
    and a trailing newline are still trimmed."""
    org = world.seeded.home_care[0]
    response = world.client.post(
        "/partner/v1/clients", json=_client_body(**{field: value}), headers=world.key(org)
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == f"body.{field}" and said in error["message"]
    made = world.client.post(
        "/admin/organisations",
        json={"name": f"Thuiszorg {value}", "kind": "home_care"},
        headers=world.token("admin"),
    )
    assert made.status_code == 422, made.text
    trimmed = world.client.post(
        "/partner/v1/clients",
        json=_client_body(display_name="Demo Client (test)\n"),
        headers=world.key(org),
    )
    assert trimmed.status_code == 201, trimmed.text


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_names_are_refused(world: World, blank: str) -> None:
    org = world.seeded.home_care[0]
    for field in ("display_name", "address"):
        response = world.client.post(
            "/partner/v1/clients", json=_client_body(**{field: blank}), headers=world.key(org)
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == f"body.{field}"
    client_id = new_client(world, org)
    response = world.client.patch(
        f"/partner/v1/clients/{client_id}", json={"display_name": blank}, headers=world.key(org)
    )
    assert response.status_code == 422
    nulled = world.client.patch(
        f"/partner/v1/clients/{client_id}", json={"display_name": None}, headers=world.key(org)
    )
    assert nulled.status_code == 422  # not a NOT NULL violation answered 500 or 409


def test_a_name_is_kept_without_outer_spaces(world: World) -> None:
    org = world.seeded.home_care[0]
    made = world.client.post(
        "/partner/v1/clients",
        json=_client_body(display_name="  Demo client 9  "),
        headers=world.key(org),
    )
    assert made.status_code == 201 and made.json()["display_name"] == "Demo client 9"


# ------------------------------------------------------------------ reads, conflicts, errors


def test_a_planners_get_never_creates_a_night(any_world: World) -> None:
    world = any_world
    later = NIGHT.replace(day=NIGHT.day + 3)

    def nights() -> int:
        with world.sessions()() as session:
            return int(session.scalar(select(func.count()).select_from(Night)) or 0)

    before = nights()
    response = world.client.get(f"/nights/{later.isoformat()}/plan", headers=world.token("planner"))
    assert response.status_code == 200
    assert response.json()["version"] == 0 and response.json()["visits"] == []
    assert response.headers["etag"] == '"0"'
    assert nights() == before


def _with_route(world: World, path: str, endpoint: Any) -> None:
    app = world.client.app
    app.router.add_api_route(path, endpoint, methods=["POST"])  # type: ignore[attr-defined]


def test_an_integrity_error_is_a_409_not_a_500(any_world: World) -> None:
    """A unique key the code did not foresee (a real insert on the real database)."""
    world = any_world

    def duplicate(session: SessionDep) -> dict[str, str]:
        existing = session.scalars(select(Organisation)).first()
        assert existing is not None
        session.add(Organisation(name=existing.name, kind=existing.kind))
        session.flush()
        return {"never": "here"}

    _with_route(world, "/test-only/duplicate", duplicate)
    response = world.client.post("/test-only/duplicate")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


def test_an_unexpected_error_logs_request_id_and_class_only(
    any_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A driver error whose statement carries a name: 500 with the request id; the log has
    the id and the class, no parameter, no message; nothing escapes to the server (the test
    client would re-raise it)."""
    world = any_world
    caplog.set_level(logging.DEBUG)

    def broken() -> None:
        factory = world.sessions()
        with factory() as real:
            real.execute(
                text("SELECT no_such_column FROM clients WHERE display_name = :name"),
                {"name": NAME},
            )

    _with_route(world, "/test-only/broken", broken)
    response = world.client.post("/test-only/broken")
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json()["request_id"] == request_id
    assert NAME not in response.text
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(request_id in r.getMessage() for r in errors)
    assert any(
        "OperationalError" in r.getMessage() or "ProgrammingError" in r.getMessage() for r in errors
    )
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert NAME not in logged
    assert all(r.exc_info is None for r in caplog.records)


def test_the_servers_log_lines_drop_tracebacks() -> None:
    """uvicorn's own 'Exception in ASGI application' line: the class stays, the text goes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(NoTracebacks())
    handler.setFormatter(logging.Formatter("[%(request_id)s] %(message)s"))
    log = logging.getLogger("test.uvicorn.error")
    log.addHandler(handler)
    log.propagate = False
    try:
        raise ValueError(f"INSERT INTO clients VALUES ({NAME!r}, {ADDRESS!r})")
    except ValueError:
        log.exception("Exception in ASGI application")
    finally:
        log.removeHandler(handler)
    line = stream.getvalue()
    assert "Exception in ASGI application [ValueError]" in line
    assert NAME not in line and ADDRESS not in line and "Traceback" not in line
