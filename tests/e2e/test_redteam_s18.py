"""Red-team finding R09 of s18 in Debian's Chromium: failing (xfail strict) until fixed."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import HTTP, Board
from tests.e2e.test_planner_board import browser, page, sign_in  # noqa: F401

pytest.importorskip("playwright", reason="the playwright Python package (make install)")
from playwright.sync_api import Page, expect

#: What a partner's system (or whoever holds its API key) may send as a client's name.
NAME = '<img src=x onerror="window.__red=1">'


@pytest.mark.xfail(strict=True, reason="R09: a client's name runs as HTML in the board")
def test_r09_a_clients_name_is_text_on_the_board_never_html(page: Page, board: Board) -> None:  # noqa: F811
    """A partner names a client with HTML; the planner points at the visit on the map: the
    marker's tooltip (Leaflet ``bindTooltip`` with a string sets ``innerHTML``) runs the
    partner's script in the planner's page, which holds her token (every organisation's
    clients, moves, publishing)."""
    org = board.seeded.home_care[0]
    key = {"X-API-Key": board.seeded.api_keys[org]}
    known = HTTP.get(f"{board.url}/partner/v1/clients", headers=key).json()[0]
    made = HTTP.post(
        f"{board.url}/partner/v1/clients",
        json={
            "display_name": NAME,
            "address": "Teststraat 1",
            "lat": known["lat"],
            "lon": known["lon"],
        },
        headers=key,
    )
    assert made.status_code == 201, made.text
    request = HTTP.post(
        f"{board.url}/partner/v1/visit-requests",
        json={
            "kind": "planned",
            "client_id": made.json()["id"],
            "care_task": "medication",
            "service_minutes": 10,
            "night": board.night.isoformat(),
            "window": {"start": "01:00", "end": "06:00"},
        },
        headers=key,
    )
    assert request.status_code == 201, request.text
    visit = f"V{request.json()['visits'][0]['visit_id']}"
    sign_in(page, board)
    marker = page.locator(f'[data-testid=map-visit][data-visit-id="{visit}"]')
    expect(marker).to_have_count(1)
    marker.dispatch_event("mouseover")
    expect(page.locator(".leaflet-tooltip")).to_have_count(1)
    assert page.evaluate("window.__red") is None
    assert page.locator(".leaflet-tooltip img").count() == 0
