"""Open event streams end once their credential is no longer valid (review s25).

A phone's change stream and the planner's board stream checked the caller once, when they
opened, and then ran their whole lifetime (300 s): a login deactivated after a leak, or a
lost phone revoked, kept receiving route-changed notices and plan versions for minutes. Each
stream now checks its credential again at least once per heartbeat and ends with the comment
``: signed out`` when it is no longer valid.

Streams are held open over HTTP on a real port (the in-process test client buffers a whole
stream): a second app on the test's database, with a short heartbeat, served by uvicorn in a
thread. No wall-clock assertion: a stream that is not closed runs its lifetime and ends
without the comment.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
import uvicorn

from api.main import create_app
from tests.api.conftest import NIGHT, World
from tests.api.phone_helpers import register_phone

CHANGES = "/mobile/v1/me/route/changes"
BOARD = f"/nights/{NIGHT.isoformat()}/board/stream"
#: Long enough that a stream left open by a missing check is told apart by its ending.
LIFETIME_SECONDS = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _served(world: World) -> Iterator[str]:
    """A second app on the world's database and clock, streams held ``LIFETIME_SECONDS``
    with a heartbeat of 0.2 s, on a free port; its base URL."""
    settings = world.settings.model_copy(
        update={"route_stream_seconds": LIFETIME_SECONDS, "stream_heartbeat_seconds": 0.2}
    )
    app = create_app(settings, clock=world.clock)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # a start-up guard, not what the test checks
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _rest_of(stream: Iterator[str]) -> list[str]:
    """The stream's remaining non-empty lines, to its end."""
    return [line for line in stream if line]


def test_a_phones_change_stream_ends_when_her_login_is_deactivated(world: World) -> None:
    """Her phone holds its change stream; the admin deactivates her login: the stream ends
    with ``: signed out`` instead of running on."""
    phone = register_phone(world, "nurse-n1")
    user_id = int(phone["X-User"])
    with _served(world) as base, httpx.Client(base_url=base, auth=world.phones, timeout=60) as http:
        headers = {k: v for k, v in phone.items() if k != "X-User"}
        with http.stream("GET", CHANGES, headers=headers) as response:
            assert response.status_code == 200, response.read()
            lines = response.iter_lines()
            assert next(lines) == "retry: 5000"
            done = http.post(f"/admin/users/{user_id}/deactivate", headers=world.token("admin"))
            assert done.status_code == 200, done.text
            assert _rest_of(lines)[-1:] == [": signed out"]


def test_a_phones_change_stream_ends_when_the_phone_is_revoked(world: World) -> None:
    """The planner revokes a lost phone while it holds its change stream: the stream ends."""
    phone = register_phone(world, "nurse-n1")
    with _served(world) as base, httpx.Client(base_url=base, auth=world.phones, timeout=60) as http:
        headers = {k: v for k, v in phone.items() if k != "X-User"}
        with http.stream("GET", CHANGES, headers=headers) as response:
            assert response.status_code == 200, response.read()
            lines = response.iter_lines()
            assert next(lines) == "retry: 5000"
            revoked = http.post(
                f"/phones/{phone['X-Device-Id']}/revoke", headers=world.token("planner")
            )
            assert revoked.status_code == 200, revoked.text
            assert _rest_of(lines)[-1:] == [": signed out"]


def test_the_boards_stream_ends_when_the_planners_login_is_deactivated(world: World) -> None:
    """A planner's board stream ends once the admin deactivates her login; a colleague's
    stream, checked as often, runs on to its end."""
    user_id, _role = world.seeded.users["planner2"]
    with _served(world) as base, httpx.Client(base_url=base, timeout=60) as http:
        params = {"seconds": LIFETIME_SECONDS}
        with (
            http.stream("GET", BOARD, params=params, headers=world.token("planner2")) as hers,
            http.stream("GET", BOARD, params={"seconds": 2}, headers=world.token("planner")) as his,
        ):
            assert hers.status_code == 200 and his.status_code == 200
            her_lines, his_lines = hers.iter_lines(), his.iter_lines()
            assert next(her_lines) == "retry: 3000" and next(his_lines) == "retry: 3000"
            done = http.post(f"/admin/users/{user_id}/deactivate", headers=world.token("admin"))
            assert done.status_code == 200, done.text
            assert _rest_of(her_lines)[-1:] == [": signed out"]
            assert ": signed out" not in _rest_of(his_lines)


def test_the_boards_stream_ends_when_its_token_expires(world: World) -> None:
    """Review s26: a token lives ``access_token_minutes``; a board stream opened with it ends
    with ``: signed out`` once it has expired (the simulated clock moved past it), and the
    reconnection with that token is refused 401, which sends the page to polling."""
    with _served(world) as base, httpx.Client(base_url=base, timeout=60) as http:
        headers = world.token("planner")
        params = {"seconds": LIFETIME_SECONDS}
        with http.stream("GET", BOARD, params=params, headers=headers) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert next(lines) == "retry: 3000"
            world.clock.now += timedelta(minutes=world.settings.access_token_minutes, seconds=1)
            assert _rest_of(lines)[-1:] == [": signed out"]
        assert http.get(BOARD, params={"seconds": 0}, headers=headers).status_code == 401
