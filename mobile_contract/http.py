"""HTTP details of the contract the server must honour: ETags, Server-Sent Events, headers.

Pure functions, so the API's handlers and their tests share one definition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from mobile_contract.route import MyRoute, RouteChangedNotice

__all__ = [
    "NO_STORE_HEADERS",
    "SSE_EVENT_NAME",
    "etag_matches",
    "format_sse",
    "notices_after",
    "parse_last_event_id",
    "route_etag",
]

#: Headers of every key-safe response (reveal and refusal): nothing keeps a copy.
NO_STORE_HEADERS: dict[str, str] = {"Cache-Control": "no-store", "Pragma": "no-cache"}

#: The SSE ``event:`` name of a route-changed notice.
SSE_EVENT_NAME = "route_changed"


def route_etag(route: MyRoute) -> str:
    """The strong ``ETag`` of a route: a hash of its JSON, so equal routes share it.

    ``generated_at`` is left out: building the same route twice must still answer 304.
    """
    body = route.model_dump_json(exclude={"generated_at"}).encode()
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (so the answer is 304)."""
    if not if_none_match:
        return False
    candidates = [part.strip() for part in if_none_match.split(",")]
    # Weak comparison, as RFC 9110 prescribes for If-None-Match: W/"x" matches "x".
    return "*" in candidates or etag.removeprefix("W/") in {
        c.removeprefix("W/") for c in candidates
    }


def format_sse(notice: RouteChangedNotice) -> str:
    """One SSE message for ``notice``; its ``id:`` is what the phone sends as Last-Event-ID."""
    return f"id: {notice.event_id}\nevent: {SSE_EVENT_NAME}\ndata: {notice.model_dump_json()}\n\n"


def parse_last_event_id(header: str | None) -> int:
    """The ``Last-Event-ID`` as a number; 0 (send everything kept) when absent or unreadable."""
    if header is None:
        return 0
    try:
        value = int(header.strip())
    except ValueError:
        return 0
    return max(value, 0)


def notices_after(
    notices: Iterable[RouteChangedNotice], last_event_id: int
) -> list[RouteChangedNotice]:
    """The notices a reconnecting phone has not seen, oldest first."""
    return sorted((n for n in notices if n.event_id > last_event_id), key=lambda n: n.event_id)
