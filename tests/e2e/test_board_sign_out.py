"""The planner's board when her sign-in stops being valid (an admin deactivated her login): it
says so in her language, shows the sign-in form, stops asking the service, and a new sign-in
brings it back with one stream. A 403 (signed in, not allowed) is no sign-out.

Against the real service (`watchful_board`: streams check the credential every second) in
Debian's Chromium; waits are Playwright's, bounded by generous timeouts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.e2e.conftest import HTTP, WEB, Board, browser_or_skip

pytest.importorskip("playwright", reason="the playwright Python package (make install)")
from playwright.sync_api import Page, Request, expect, sync_playwright

TIMEOUT = 30_000  # a busy machine is slow; slowness is not what is tested
SIGNED_OUT_NL = "U bent afgemeld: meld u opnieuw aan. Het bord wordt niet meer bijgewerkt."
SIGNED_OUT_EN = "You have been signed out: please sign in again. The board is no longer updated."


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = browser_or_skip()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, watchful_board: Board) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    yield page
    context.close()


def sign_in(page: Page, board: Board, username: str = "planner") -> None:
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(board.password)
    page.get_by_test_id("login-submit").click()


def admin(board: Board, user: str, action: str) -> None:
    """``action`` (deactivate, reactivate) the login ``user`` through the admin API."""
    user_id = board.seeded.users[user][0]
    r = HTTP.post(f"{board.url}/admin/users/{user_id}/{action}", headers=board.planner("admin"))
    assert r.status_code == 200, r.text


def serious_axe_violations(page: Page) -> list[dict[str, object]]:
    """axe-core's serious and critical findings on the page as it is (as
    `test_planner_board.test_axe_finds_no_serious_violations`)."""
    page.evaluate((WEB / "axe-core" / "axe.min.js").read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:3]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


class Calls:
    """The page's calls to the night's API as the browser makes them: every one asked for,
    and the board streams not yet ended."""

    def __init__(self, page: Page) -> None:
        self.asked: list[str] = []
        self.streams: set[Request] = set()
        page.on("request", self._asked)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _asked(self, request: Request) -> None:
        if "/nights/" in request.url:
            self.asked.append(request.url)
        if "/board/stream" in request.url:
            self.streams.add(request)

    def _ended(self, request: Request) -> None:
        self.streams.discard(request)


def test_a_deactivated_planner_is_told_and_a_new_sign_in_resumes(
    page: Page, watchful_board: Board
) -> None:
    """Deactivated while her board streams: the stream's ``: signed out`` ends the live
    board with the message and the form; nothing more is asked; reactivated, she signs in
    and the board follows a colleague's change again through one stream."""
    board = watchful_board
    calls = Calls(page)
    # The page's timers on a clock the test can run ahead (it runs at real speed until
    # then): the look for what must not come below covers the board's poll and its
    # stream's reconnection without waiting them out in real time.
    page.clock.install()
    page.goto(f"{board.url}/planner?night={board.night.isoformat()}")
    sign_in(page, board)
    app, status = page.locator("#app"), page.locator("#status")
    expect(page.get_by_test_id("timeline-row")).to_have_count(3, timeout=TIMEOUT)
    expect(app).to_have_attribute("data-live", "stream", timeout=TIMEOUT)

    admin(board, "planner", "deactivate")
    expect(status).to_have_text(SIGNED_OUT_NL, timeout=TIMEOUT)
    expect(app).to_have_attribute("data-live", "signed-out")
    expect(page.get_by_test_id("login-username")).to_be_visible()
    expect(page.get_by_test_id("login-password")).to_have_value("")
    page.locator("#lang").click()
    expect(status).to_have_text(SIGNED_OUT_EN)
    serious = serious_axe_violations(page)
    assert serious == [], json.dumps(serious, indent=1)
    # Neither polling (every 3 s) nor the stream's reconnection (after 10 s) goes on: a
    # bounded look for what must not come, 12 s of the page's timers run at once, then a
    # real moment for a request they would make to show.
    asked = len(calls.asked)
    page.clock.run_for(12_000)
    page.wait_for_timeout(1_000)
    assert calls.asked[asked:] == []
    assert not calls.streams

    admin(board, "planner", "reactivate")
    # Her tokens up to the reactivation stay refused; the service's clock stands still.
    board.clock.now += timedelta(minutes=1)
    sign_in(page, board)
    expect(app).to_have_attribute("data-live", "stream", timeout=TIMEOUT)
    expect(page.get_by_test_id("login-username")).to_be_hidden()
    expect(status).not_to_have_text(SIGNED_OUT_EN)
    seen = int(page.get_by_test_id("plan-version").inner_text())
    block = page.locator(
        '[data-testid="timeline-row"][data-nurse-id="N1"] [data-testid="visit-block"]'
    ).first
    moved = block.get_attribute("data-visit-id") or "V0"
    r = HTTP.post(
        f"{board.url}/nights/{board.night}/plan/moves",
        headers=board.planner("planner2") | {"If-Match": f'"{seen}"'},
        json={"visit_id": int(moved[1:]), "nurse": "N2"},
    )
    assert r.status_code == 200, r.text
    expect(page.get_by_test_id("plan-version")).to_have_text(str(seen + 1), timeout=TIMEOUT)
    assert len(calls.streams) == 1, [s.url for s in calls.streams]


def test_a_401_to_the_boards_polling_signs_her_out(page: Page, watchful_board: Board) -> None:
    """Without the stream (a proxy that cuts it) the board polls; the poll's 401 says she
    is signed out rather than being ignored."""
    board = watchful_board
    page.route("**/board/stream*", lambda route: route.abort())
    page.clock.install()  # at real speed; run ahead to the next poll below
    page.goto(f"{board.url}/planner?night={board.night.isoformat()}")
    sign_in(page, board)
    expect(page.get_by_test_id("timeline-row")).to_have_count(3, timeout=TIMEOUT)
    expect(page.locator("#app")).to_have_attribute("data-live", "poll", timeout=TIMEOUT)
    admin(board, "planner", "deactivate")
    page.clock.run_for(3_000)
    expect(page.locator("#status")).to_have_text(SIGNED_OUT_NL, timeout=TIMEOUT)
    expect(page.locator("#app")).to_have_attribute("data-live", "signed-out")
    expect(page.get_by_test_id("login-username")).to_be_visible()


def test_a_403_is_not_a_sign_out(page: Page, watchful_board: Board) -> None:
    """A partner's valid token may not read the board: the refusal is shown, not a
    sign-out."""
    board = watchful_board
    page.goto(f"{board.url}/planner?night={board.night.isoformat()}")
    sign_in(page, board, "partner1")
    expect(page.locator("#status")).to_contain_text("Aanmelden mislukt", timeout=TIMEOUT)
    expect(page.locator("#status")).not_to_contain_text("afgemeld")
    expect(page.locator("#app")).not_to_have_attribute("data-live", "signed-out")
