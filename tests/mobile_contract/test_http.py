"""ETag/If-None-Match and the resumable SSE stream, as the API must serve them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mobile_contract.http import (
    etag_matches,
    format_sse,
    notices_after,
    parse_last_event_id,
    route_etag,
)
from mobile_contract.route import RouteChangedNotice

from .builders import route, route_dict


def _notice(event_id: int) -> RouteChangedNotice:
    return RouteChangedNotice(
        event_id=event_id,
        nurse_id="N1",
        route_version=event_id + 1,
        changed_at=datetime(2026, 11, 23, 23, event_id, tzinfo=UTC),
        reason="replanned",
    )


def test_same_route_same_etag_even_when_rebuilt() -> None:
    """Rebuilding an unchanged route (new generated_at) keeps its ETag, so the phone gets 304."""
    first = route(5)
    data = route_dict(5)
    data["generated_at"] = "2026-11-23T23:59:00Z"
    assert route_etag(first) == route_etag(type(first).model_validate(data))


def test_changed_route_changes_etag() -> None:
    """A new version is a new ETag."""
    data = route_dict(5)
    data["version"] += 1
    assert route_etag(route(5)) != route_etag(type(route(5)).model_validate(data))


def test_if_none_match() -> None:
    """Exact, listed, weak and star matches give 304; others do not."""
    tag = route_etag(route(2))
    assert etag_matches(tag, tag)
    assert etag_matches(f'"other", {tag}', tag)
    assert etag_matches(f"W/{tag}", tag)
    assert etag_matches("*", tag)
    assert not etag_matches('"other"', tag)
    assert not etag_matches(None, tag)


def test_sse_message_format() -> None:
    """An SSE message: id, event name and the notice as one JSON data line."""
    text = format_sse(_notice(7))
    lines = text.split("\n")
    assert lines[0] == "id: 7"
    assert lines[1] == "event: route_changed"
    assert json.loads(lines[2].removeprefix("data: "))["route_version"] == 8
    assert text.endswith("\n\n")


def test_resume_with_last_event_id() -> None:
    """A phone reconnecting with Last-Event-ID 3 gets 4 and 5, in order, nothing twice."""
    notices = [_notice(i) for i in (5, 1, 4, 2, 3)]
    resumed = notices_after(notices, parse_last_event_id("3"))
    assert [n.event_id for n in resumed] == [4, 5]
    assert [n.event_id for n in notices_after(notices, parse_last_event_id(None))] == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert parse_last_event_id("garbage") == 0
