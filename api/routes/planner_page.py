"""The planner's page: one static HTML page on top of the JSON API (not in the OpenAPI)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
_PAGE = Path(__file__).resolve().parents[1] / "static" / "planner.html"


@router.get("/planner", response_class=HTMLResponse)
def planner_page() -> HTMLResponse:
    """The page; it signs in and reads the plan through the API like any client."""
    return HTMLResponse(_PAGE.read_text(encoding="utf-8"))
