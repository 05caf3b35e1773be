"""R15 through HTTP on a real port (uvicorn): one user's open board streams are capped, the
cap is per user, a closed stream frees its slot, and the service answers meanwhile. (The
in-process test client buffers a whole stream, so streams held open need a real server.)"""

from __future__ import annotations

from contextlib import ExitStack

import httpx

from api.services.board_watch import STREAMS_PER_USER
from tests.e2e.conftest import Board, reopened


def _open(client: httpx.Client, board: Board, headers: dict[str, str]) -> httpx.Response:
    request = client.build_request(
        "GET", f"{board.url}/nights/{board.night}/board/stream?seconds=120", headers=headers
    )
    return client.send(request, stream=True)


def test_one_users_open_board_streams_are_capped(board: Board) -> None:
    planner = board.planner()
    with httpx.Client(timeout=120) as client, ExitStack() as held:
        streams = []
        for _ in range(STREAMS_PER_USER):
            response = _open(client, board, planner)
            held.callback(response.close)
            assert response.status_code == 200
            streams.append(response)
        readers = []  # kept: a dropped line iterator closes its stream
        for response in streams:  # every stream says the version at once
            lines = response.iter_lines()
            readers.append(lines)
            first = next(lines)
            while not first.startswith("data: "):
                first = next(lines)
            assert '"version"' in first
        refused = _open(client, board, planner)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) > 0
        refused.read()
        assert "board streams" in refused.json()["detail"]
        assert board.token() not in refused.text
        # Another planner is not held back by the first one's streams, and reads answer.
        other = _open(client, board, board.planner("planner2"))
        held.callback(other.close)
        assert other.status_code == 200
        version = client.get(f"{board.url}/nights/{board.night}/board/version", headers=planner)
        assert version.status_code == 200
        # Closing one stream gives its slot back (once the server saw the client go).
        streams[0].close()
        assert reopened(lambda: _open(client, board, planner), held).status_code == 200
