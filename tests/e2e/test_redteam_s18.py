"""Red-team finding R09 of s18 in Debian's Chromium: data is text on the board, and the page's
Content-Security-Policy holds while the board is used."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import HTTP, Board
from tests.e2e.test_planner_board import browser, page, sign_in  # noqa: F401

pytest.importorskip("playwright", reason="the playwright Python package (make install)")
from playwright.sync_api import Page, expect

#: What a partner's system (or whoever holds its API key) may send as a client's name.
NAME = '<img src=x onerror="window.__red=1">'


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
    # The same name everywhere else it shows: the detail panel and the timeline, as text.
    marker.dispatch_event("click")
    expect(page.locator("#detail")).to_contain_text(NAME)
    assert page.locator("#detail img, #timeline img").count() == 0
    assert page.evaluate("window.__red") is None


def test_the_board_works_under_its_content_security_policy(page: Page, board: Board) -> None:  # noqa: F811
    """The page's policy (own scripts only, no inline script) blocks nothing the board does:
    sign in, map with roads and tooltips, a visit's detail, the move preview."""
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    sign_in(page, board)
    expect(page.get_by_test_id("map")).to_have_attribute("data-roads", "drawn")
    page.locator("[data-testid=map-visit]").first.dispatch_event("mouseover")
    expect(page.locator(".leaflet-tooltip")).to_have_count(1)
    page.get_by_test_id("visit-block").first.click()
    page.get_by_role("button", name="Gevolgen bekijken").click()
    expect(page.get_by_test_id("move-preview")).to_be_visible()
    assert page.evaluate("window.__csp") == []
    # An inline script is refused (the kind of thing an injected name would try).
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1';"
        " document.body.append(s); }"
    )
    assert page.evaluate("window.__inline") is None
    assert any("script-src" in v for v in page.evaluate("window.__csp"))
