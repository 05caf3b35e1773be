"""The planner's board: one static page, its script and style, and the map library from
``web/node_modules`` (installed by `make install` with ``npm ci``; nothing is fetched at run
time). None of it is in the OpenAPI; the page signs in and reads through the JSON API."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

router = APIRouter(include_in_schema=False)
_STATIC = FilePath(__file__).resolve().parents[1] / "static"
_PAGE = _STATIC / "planner.html"
_ASSETS = {"planner.js": "text/javascript", "planner.css": "text/css"}
#: Where Leaflet's distribution folder may be: the checkout's ``web/`` (editable install), or
#: ``web/`` in the working directory (the Docker image's /app). Absent when npm was not run:
#: the page then says the map library is missing.
_LEAFLET_CANDIDATES = (
    FilePath(__file__).resolve().parents[2] / "web" / "node_modules" / "leaflet" / "dist",
    FilePath("web") / "node_modules" / "leaflet" / "dist",
)
_VENDOR_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
#: Defence in depth for the page that holds the planner's token: only our own files run (no
#: inline script or handler, so HTML that slipped into the page cannot act), it talks only to
#: this service, and no other site may frame it (clickjacking the move/publish buttons).
#: Styles set from script (CSSOM: Leaflet, the timeline) are not inline styles to CSP.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.get("/planner", response_class=HTMLResponse)
def planner_page() -> HTMLResponse:
    """The page; it signs in and reads the plan through the API like any client."""
    return HTMLResponse(_PAGE.read_text(encoding="utf-8"), headers=_PAGE_HEADERS)


@router.get("/planner/assets/{name}")
def planner_asset(name: Annotated[str, Path(max_length=32)]) -> Response:
    """The board's own script and style (a fixed list: no path from the caller is opened)."""
    media = _ASSETS.get(name)
    if media is None:
        return PlainTextResponse("not found", status_code=404)
    return FileResponse(_STATIC / "board" / name, media_type=media)


@router.get("/planner/vendor/leaflet/{name:path}")
def planner_vendor(name: Annotated[str, Path(max_length=64)]) -> Response:
    """Leaflet's files from ``web/node_modules/leaflet/dist`` (only files inside it)."""
    for folder in _LEAFLET_CANDIDATES:
        root = folder.resolve()
        target = (root / name).resolve()
        media = _VENDOR_TYPES.get(target.suffix)
        if media is not None and target.is_relative_to(root) and target.is_file():
            return FileResponse(target, media_type=media)
    return PlainTextResponse("not found", status_code=404)
