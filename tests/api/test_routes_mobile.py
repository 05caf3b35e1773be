"""The /mobile/v1 router over an in-memory backend: HTTP rules of the contract, end to end."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.middleware.gzip import GZipMiddleware
from starlette.exceptions import StarletteDeprecationWarning

from api.routes.mobile import Caller, build_router
from mobile_contract.endpoints import ENDPOINTS, PREFIX
from mobile_contract.route import VisitStep

from ..mobile_contract.builders import route
from .fake_mobile_backend import CODE, FakeBackend

with warnings.catch_warnings():
    # Starlette 1.x asks for `httpx2` behind its TestClient; httpx still works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

EXAMPLES = Path(__file__).parents[2] / "mobile_contract" / "examples"


class Clock:
    """A settable clock, so tests move time instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def clock(backend: FakeBackend) -> Clock:
    first = next(s for s in backend.route.steps if isinstance(s, VisitStep))
    return Clock(first.eta)


@pytest.fixture
def client(backend: FakeBackend, clock: Clock) -> Iterator[TestClient]:
    def caller(authorization: str = Header()) -> Caller:
        # Test tokens are "nurse:device"; the service verifies a device-bound token instead.
        nurse, _, device = authorization.removeprefix("Bearer ").partition(":")
        if not device:
            raise HTTPException(401)
        return Caller(nurse_id=nurse, device_id=device)

    app = FastAPI()
    app.include_router(
        build_router(
            backend=lambda: backend,
            caller=caller,
            nurse=lambda: "N1",
            clock=clock,
            stream_seconds=0,
            poll_seconds=0,
        )
    )
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    with TestClient(app, headers={"Authorization": "Bearer N1:D1"}) as test_client:
        yield test_client


def _first_visit(backend: FakeBackend) -> VisitStep:
    return next(s for s in backend.route.steps if isinstance(s, VisitStep))


def test_router_serves_exactly_the_declared_endpoints(client: TestClient) -> None:
    """Every endpoint of the contract, and no other, with its operation id."""
    served = {
        (method.lower(), path, op["operationId"])
        for path, item in client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method, op in item.items()
    }
    assert served == {(e.method, PREFIX + e.path, e.operation_id) for e in ENDPOINTS}


def test_route_etag_and_304(client: TestClient) -> None:
    """The route comes with an ETag; asking again with If-None-Match gets 304 and no body."""
    first = client.get(f"{PREFIX}/me/route")
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = client.get(f"{PREFIX}/me/route", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""


def test_route_is_gzipped(client: TestClient) -> None:
    """A phone that accepts gzip gets it."""
    response = client.get(f"{PREFIX}/me/route", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "key_safe_present" in response.text and CODE not in response.text


def test_no_route_is_404_with_an_error_body(client: TestClient) -> None:
    """Another nurse without a route tonight: 404 and the contract's error body."""
    response = client.get(f"{PREFIX}/me/route", headers={"Authorization": "Bearer N7:D7"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_change_stream_resumes_after_last_event_id(
    client: TestClient, backend: FakeBackend
) -> None:
    """Three notices; reconnecting with Last-Event-ID 1 gets 2 and 3 as SSE messages."""
    for _ in range(3):
        backend.add_notice()
    response = client.get(f"{PREFIX}/me/route/changes", headers={"Last-Event-ID": "1"})
    assert response.headers["content-type"].startswith("text/event-stream")
    ids = [line for line in response.text.splitlines() if line.startswith("id: ")]
    assert ids == ["id: 2", "id: 3"]
    assert "event: route_changed" in response.text


def test_event_batch_twice_and_one_bad_event(client: TestClient, backend: FakeBackend) -> None:
    """Accepted, then duplicate on resend; a malformed event is rejected alone by index."""
    visit = _first_visit(backend)
    events = [
        {
            "type": "arrived",
            "event_id": "00000000-0000-4000-8000-000000000001",
            "device_time": "2026-11-23T22:10:00Z",
            "visit_id": visit.visit_id,
        },
        {"type": "arrived", "event_id": "00000000-0000-4000-8000-000000000002"},
    ]
    body = {"sent_at": "2026-11-23T22:11:00Z", "events": events}
    first = client.post(f"{PREFIX}/me/events", json=body).json()
    again = client.post(f"{PREFIX}/me/events", json=body).json()
    assert [r["outcome"] for r in first["results"]] == ["accepted", "rejected"]
    assert first["results"][1]["reason"] == "invalid"
    assert [r["outcome"] for r in again["results"]] == ["duplicate", "rejected"]
    assert len(backend.events.events) == 1


def test_unreadable_batch_is_422_without_echo(client: TestClient) -> None:
    """A body that is not a batch: 422 naming the field, not repeating what was sent."""
    response = client.post(f"{PREFIX}/me/events", json={"sent_at": "Testpersoon", "events": []})
    assert response.status_code == 422
    assert "Testpersoon" not in response.text


def test_reveal_in_window_gives_the_code_no_store_and_logs(
    client: TestClient, backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """The assigned nurse at the door at her ETA: 200, the code, no-store, one log entry."""
    caplog.set_level(logging.DEBUG)
    visit = _first_visit(backend)
    response = client.post(
        f"{PREFIX}/me/keysafe/reveal",
        json={"visit_id": visit.visit_id, "position": list(visit.address.location)},
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json()["code"] == CODE
    assert [(e.outcome, e.nurse_id) for e in backend.access_log] == [("revealed", "N1")]
    assert CODE not in caplog.text


def test_reveal_refusals_are_403_no_store_and_logged(
    client: TestClient, backend: FakeBackend, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """Too early, too far, another nurse's phone: 403 with the reason, each logged, no code."""
    caplog.set_level(logging.DEBUG)
    visit = _first_visit(backend)
    at_door = {"visit_id": visit.visit_id, "position": list(visit.address.location)}
    clock.now = visit.eta - timedelta(hours=2)
    early = client.post(f"{PREFIX}/me/keysafe/reveal", json=at_door)
    clock.now = visit.eta
    far = client.post(
        f"{PREFIX}/me/keysafe/reveal", json={"visit_id": visit.visit_id, "position": [5.0, 52.0]}
    )
    other = client.post(
        f"{PREFIX}/me/keysafe/reveal", json=at_door, headers={"Authorization": "Bearer N2:D9"}
    )
    for response in (early, far, other):
        assert response.status_code == 403
        assert response.headers["Cache-Control"] == "no-store"
        assert CODE not in response.text
    assert [r.json()["reason"] for r in (early, far, other)] == [
        "too_early",
        "too_far",
        "device_not_registered",
    ]
    assert [e.outcome for e in backend.access_log] == ["refused"] * 3
    assert CODE not in caplog.text


def test_bag_and_restock_follow_the_events(client: TestClient, backend: FakeBackend) -> None:
    """Shift start with 30 gloves, a visit using 12: 18 left (a shortage), 32 to restock."""
    visit = _first_visit(backend)
    batch = {
        "sent_at": "2026-11-23T23:00:00Z",
        "events": [
            {
                "type": "shift_start",
                "event_id": "00000000-0000-4000-8000-000000000010",
                "device_time": "2026-11-23T22:00:00Z",
                "bag_check": {
                    "template_version": 1,
                    "counted": [{"item_id": "gloves", "quantity": 30}],
                },
            },
            {
                "type": "visit_completed",
                "event_id": "00000000-0000-4000-8000-000000000011",
                "device_time": "2026-11-23T22:30:00Z",
                "visit_id": visit.visit_id,
                "tasks_done": [],
                "materials_used": [{"item_id": "gloves", "quantity": 12}],
            },
        ],
    }
    assert client.post(f"{PREFIX}/me/events", json=batch).status_code == 200
    status = client.get(f"{PREFIX}/me/bag").json()
    assert status["contents"] == [{"item_id": "gloves", "quantity": 18}]
    assert status["shortages"][0]["missing"] == 2
    restock = client.get(f"{PREFIX}/me/bag/restock").json()
    assert restock["lines"][0]["to_add"] == 32
    assert client.get(f"{PREFIX}/me/bag/template").json()["team_id"] == "team-test"


def test_register_device(client: TestClient) -> None:
    """A signed-in nurse registers a phone: 201 with its id."""
    example = json.loads((EXAMPLES / "device_registration_request.json").read_text())
    response = client.post(f"{PREFIX}/devices", json=example)
    assert response.status_code == 201
    assert response.json()["nurse_id"] == "N1"


def test_twenty_visit_route_over_the_wire_is_under_20_kb(
    client: TestClient, backend: FakeBackend
) -> None:
    """A 20-visit route as served, gzip-compressed by the middleware, is below 20 KB."""
    backend.route = route(20)
    response = client.get(f"{PREFIX}/me/route", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    compressed = int(response.headers["Content-Length"])
    assert compressed < 20 * 1024
    assert compressed < len(response.content) / 3  # httpx hands back the inflated body
