"""Red team s29 of the board's sign-out (e0c90c7): a board signed in before its night had a
plan. Against the real service (`watchful_board`) in Debian's Chromium; waits are
Playwright's, bounded by generous timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.e2e.conftest import HTTP, Board, browser_or_skip
from tests.e2e.test_board_sign_out import SIGNED_OUT_NL, TIMEOUT, admin, sign_in

pytest.importorskip("playwright", reason="the playwright Python package (make install)")
from playwright.sync_api import Page, expect, sync_playwright


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


def test_redteam_s29_a_board_signed_in_before_its_first_plan_hears_of_her_sign_out(
    page: Page, watchful_board: Board
) -> None:
    """She signs in to tomorrow's night, which has no plan yet ('press Re-optimise'): the
    sign-in returned before starting the board's poll and stream, so once she re-optimised
    the board showed the night and never heard of anything again: not a colleague's change,
    and not her sign-out (login deactivated): the night stayed on the screen, live-looking."""
    board = watchful_board
    night = board.night + timedelta(days=1)
    page.goto(f"{board.url}/planner?night={night.isoformat()}")
    sign_in(page, board)
    expect(page.locator("#status")).to_contain_text("Nog geen plan", timeout=TIMEOUT)
    page.get_by_test_id("reoptimise").click()
    expect(page.get_by_test_id("plan-version")).to_have_text("1", timeout=TIMEOUT)
    expect(page.locator("#board")).to_be_visible()
    admin(board, "planner", "deactivate")
    expect(page.locator("#status")).to_have_text(SIGNED_OUT_NL, timeout=TIMEOUT)
    expect(page.locator("#app")).to_have_attribute("data-live", "signed-out")
    expect(page.get_by_test_id("plan-version")).to_have_text("–")
    expect(page.locator("#board")).to_be_hidden()


def test_redteam_s29_a_board_without_a_plan_shows_the_one_a_colleague_makes(
    page: Page, watchful_board: Board
) -> None:
    """Signed in to a night with no plan yet, the board waited for her own click: the plan
    a colleague then made never reached it."""
    board = watchful_board
    night = board.night + timedelta(days=1)
    page.goto(f"{board.url}/planner?night={night.isoformat()}")
    sign_in(page, board)
    expect(page.locator("#status")).to_contain_text("Nog geen plan", timeout=TIMEOUT)
    r = HTTP.post(
        f"{board.url}/nights/{night}/plan/reoptimise",
        headers=board.planner("planner2") | {"If-Match": '"0"'},
        json={"time_limit_seconds": 1},
    )
    assert r.status_code == 202, r.text
    expect(page.get_by_test_id("plan-version")).to_have_text("1", timeout=TIMEOUT)
