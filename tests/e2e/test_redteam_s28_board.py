"""Red team s28 of the board's sign-out (`test_board_sign_out.py`): what the previous
planner's board leaves on the page, and answers that come back after the sign-out.

Against the real service (`watchful_board`: streams check the credential every second) in
Debian's Chromium; waits are Playwright's, bounded by generous timeouts. The seeded clients'
names are fictional.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import HTTP, Board, browser_or_skip
from tests.e2e.test_board_sign_out import SIGNED_OUT_NL, TIMEOUT, admin, sign_in

pytest.importorskip("playwright", reason="the playwright Python package (make install)")
from playwright.sync_api import Page, expect, sync_playwright

#: Holds the page's answers to the calls whose method and path end match until
#: ``window.__release()``: an answer the service gave before the sign-out, read after it.
HOLD = """([method, suffix]) => {
  const real = window.fetch;
  window.__held = 0;
  window.fetch = async (url, options = {}) => {
    const answer = await real(url, options);
    const path = new URL(String(url), location.href).pathname;
    if ((options.method || "GET") === method && path.endsWith(suffix)) {
      window.__held += 1;
      await new Promise((release) => { window.__release = release; });
    }
    return answer;
  };
}"""


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


def client_names(board: Board) -> set[str]:
    """The names of tonight's clients, as the board's API gives them to a planner."""
    r = HTTP.get(f"{board.url}/nights/{board.night}/board", headers=board.planner("planner2"))
    assert r.status_code == 200, r.text
    return {v["client"]["name"] for v in r.json()["visits"]}


def signed_in_board(page: Page, board: Board) -> None:
    page.goto(f"{board.url}/planner?night={board.night.isoformat()}")
    sign_in(page, board)
    expect(page.get_by_test_id("timeline-row")).to_have_count(3, timeout=TIMEOUT)
    expect(page.locator("#app")).to_have_attribute("data-live", "stream", timeout=TIMEOUT)


def names_on_page(page: Page, names: set[str]) -> list[str]:
    """Which of ``names`` the page holds anywhere: shown, in a label or a hidden list."""
    html = page.content()
    return sorted(name for name in names if name in html)


def test_redteam_s28_signed_out_board_keeps_no_client_names(
    page: Page, watchful_board: Board
) -> None:
    """Signed out (deactivated, or her token expired at the screen she walked away from),
    the board went grey but kept every client's name, care task and time on the page (and
    the urgent-call form's client list): health data for whoever stands at the screen."""
    board = watchful_board
    names = client_names(board)
    signed_in_board(page, board)
    assert names_on_page(page, names)  # the board shows them while she is signed in
    admin(board, "planner", "deactivate")
    expect(page.locator("#status")).to_have_text(SIGNED_OUT_NL, timeout=TIMEOUT)
    assert names_on_page(page, names) == []
    expect(page.get_by_test_id("visit-block")).to_have_count(0)


def test_redteam_s28_a_refused_sign_in_after_hers_sees_nothing_of_her_board(
    page: Page, watchful_board: Board
) -> None:
    """After her sign-out, a colleague not allowed to read the board (a partner's login,
    403) signs in at the same screen: the refused sign-in un-greyed the previous planner's
    board, names and all, and made it clickable again."""
    board = watchful_board
    names = client_names(board)
    signed_in_board(page, board)
    admin(board, "planner", "deactivate")
    expect(page.locator("#status")).to_have_text(SIGNED_OUT_NL, timeout=TIMEOUT)
    sign_in(page, board, "partner1")
    expect(page.locator("#status")).to_contain_text("Aanmelden mislukt", timeout=TIMEOUT)
    assert names_on_page(page, names) == []
    expect(page.get_by_test_id("visit-block")).to_have_count(0)


def test_redteam_s28_a_reload_answered_before_the_sign_out_does_not_hide_it(
    page: Page, watchful_board: Board
) -> None:
    """A colleague's change makes the board reload; the service answers, her login is
    deactivated, her next click (publish) is refused 401 and signs her out, and only then
    does the reload's answer reach the page: it drew the board again and replaced the
    sign-out message with 'Bijgewerkt naar planversie N' (or nothing), a board that looks
    live and no longer updates. (The stream waits for the reload, so it is a click that
    hears of the sign-out here.)"""
    board = watchful_board
    signed_in_board(page, board)
    page.evaluate(HOLD, ["GET", "/board"])
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
    page.wait_for_function("() => window.__held === 1", timeout=TIMEOUT)
    admin(board, "planner", "deactivate")
    page.get_by_test_id("publish").click()
    expect(page.locator("#status")).to_have_text(SIGNED_OUT_NL, timeout=TIMEOUT)
    page.evaluate("() => window.__release()")
    page.wait_for_timeout(500)  # the held answer is read at once; a bounded look
    expect(page.locator("#status")).to_have_text(SIGNED_OUT_NL)
    expect(page.get_by_test_id("plan-version")).not_to_have_text(str(seen + 1))


def test_redteam_s28_a_move_preview_answered_after_the_sign_out_stays_closed(
    page: Page, watchful_board: Board
) -> None:
    """Signed out mid-drag: the move's preview (a dry run) was asked, then the stream said
    ``: signed out``; the preview's answer then opened the preview over the greyed board,
    or (its pending move cleared by the sign-out) put a script error in the status line
    instead of the sign-out message."""
    board = watchful_board
    signed_in_board(page, board)
    page.evaluate(HOLD, ["POST", "/plan/moves"])
    page.get_by_test_id("visit-block").first.click()
    page.locator("#detail button", has_text="Gevolgen bekijken").click()
    page.wait_for_function("() => window.__held === 1", timeout=TIMEOUT)
    admin(board, "planner", "deactivate")
    expect(page.locator("#status")).to_have_text(SIGNED_OUT_NL, timeout=TIMEOUT)
    page.evaluate("() => window.__release()")
    page.wait_for_timeout(500)  # the held answer is read at once; a bounded look
    expect(page.locator("#status")).to_have_text(SIGNED_OUT_NL)
    expect(page.get_by_test_id("move-preview")).to_be_hidden()


@pytest.mark.parametrize(
    ("button", "path"),
    [("publish", "**/plan/publish"), ("reoptimise", "**/plan/reoptimise")],
)
def test_redteam_s28_a_401_from_the_boards_buttons_signs_her_out(
    page: Page, watchful_board: Board, button: str, path: str
) -> None:
    """A 401 to publish or re-optimise (a token expired between two clicks) signs her out
    visibly, as the stream's does (no finding: kept as a guard)."""
    board = watchful_board
    signed_in_board(page, board)
    page.route(
        path,
        lambda route: route.fulfill(
            status=401, content_type="application/json", body='{"detail": "token expired"}'
        ),
    )
    page.get_by_test_id(button).click()
    expect(page.locator("#status")).to_have_text(SIGNED_OUT_NL, timeout=TIMEOUT)
    expect(page.locator("#app")).to_have_attribute("data-live", "signed-out")
