"""R15 for the phones, through HTTP on a real port: one nurse's open change streams are capped
(registering a phone revokes her last one, so per nurse is per phone too), the cap is per
nurse, and a closed stream frees its place. (The
in-process test client buffers a whole stream, so streams held open need a real server.)"""

from __future__ import annotations

from contextlib import ExitStack

import httpx

from tests.e2e.conftest import Board, reopened

CHANGES = "/mobile/v1/me/route/changes"


def _open(phone: httpx.Client) -> httpx.Response:
    return phone.send(phone.build_request("GET", CHANGES), stream=True)


def test_one_nurses_open_change_streams_are_capped(streaming_board: Board) -> None:
    """Her third stream is taken, the fourth refused 429, another nurse's is not,
    and closing one lets her open one again."""
    board = streaming_board
    cap = board.settings.phone_streams_per_nurse
    assert cap == 3  # the default the docs name
    phone = board.phone("nurse-n1")
    with ExitStack() as held:
        streams, readers = [], []  # readers kept: a dropped line iterator closes its stream
        for _ in range(cap):
            response = _open(phone)
            held.callback(response.close)
            assert response.status_code == 200, response.read()
            readers.append(response.iter_lines())
            assert next(readers[-1]) == "retry: 5000"
            streams.append(response)
        refused = _open(phone)
        refused.read()
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) > 0
        body = refused.json()
        assert body["code"] == "too_many_streams"
        assert body["detail"] == body["message"] and "change streams" in body["detail"]
        # Another nurse is not held back, and her route still answers meanwhile.
        other = _open(board.phone("nurse-n2"))
        held.callback(other.close)
        assert other.status_code == 200
        assert phone.get("/mobile/v1/me/route").status_code in (200, 404)
        # Closing one stream gives its place back (once the server saw the client go).
        streams[0].close()
        assert reopened(lambda: _open(phone), held).status_code == 200
