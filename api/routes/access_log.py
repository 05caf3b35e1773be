"""The access log export (NEN 7513), for the organisation's privacy officer with TOTP."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.core.problems import Forbidden
from api.core.roles import Principal, Role
from api.deps import SessionDep, allow
from api.repositories import access_log
from api.schemas.common import Instant

router = APIRouter(tags=["access log"])
PrivacyOfficer = Annotated[Principal, Depends(allow(Role.PRIVACY_OFFICER))]


class AccessLogRow(BaseModel):
    """One access: what, when, which client, who, responsible user, role, organisation."""

    id: int
    at: datetime
    event: str
    client_id: int | None = Field(
        description="empty for an attempt that names no client (in every organisation's export)"
    )
    actor: str
    user_id: int | None
    api_key_id: int | None
    responsible_user_id: int | None
    role: str
    acting_organisation_id: int | None
    purpose: str
    device_id: str | None = Field(default=None, description="the phone, as the caller named it")
    visit_id: str | None = Field(default=None, description="the visit, as the caller named it")
    key_id: str | None = Field(default=None, description="the key a revealed code was under")


_COLUMNS = list(AccessLogRow.model_fields)
#: A cell a spreadsheet would run as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> object:
    """``value`` as a CSV cell; text that would start a formula is kept as text (a leading
    ``'``): the phone and visit ids are what the caller sent."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


#: Rows per page by default, and at most.
PAGE_ROWS, MAX_PAGE_ROWS = 1000, 10_000


@router.get(
    "/access-log",
    response_model=list[AccessLogRow],
    responses={
        200: {
            "content": {"text/csv": {}},
            "headers": {
                "Link": {
                    "description": 'the next page, `<...>; rel="next"`; absent on the last page',
                    "schema": {"type": "string"},
                }
            },
        }
    },
)
def export_access_log(
    request: Request,
    response: Response,
    session: SessionDep,
    officer: PrivacyOfficer,
    since: Annotated[Instant | None, Query()] = None,
    until: Annotated[Instant | None, Query()] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="cursor: the last id of the page before")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_ROWS)] = PAGE_ROWS,
) -> Response | list[AccessLogRow]:
    """Who accessed your organisation's clients, oldest first, a page at a time. Sign in with
    your TOTP code to open it. Follow the ``Link: <...>; rel="next"`` header until there is
    none: every row is on exactly one page, none is left out."""
    if not officer.second_factor:
        raise Forbidden("the access log needs a second factor: sign in with your TOTP code")
    assert officer.organisation_id is not None
    entries = access_log.entries_for_organisation(
        session, officer.organisation_id, since=since, until=until, after_id=after, limit=limit + 1
    )
    more = len(entries) > limit
    rows = [AccessLogRow.model_validate(e, from_attributes=True) for e in entries[:limit]]
    headers: dict[str, str] = {}
    if more:
        following = str(request.url.include_query_params(after=rows[-1].id, limit=limit))
        headers["Link"] = f'<{following}>; rel="next"'
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(v) for k, v in row.model_dump(mode="json").items()})
        return Response(buffer.getvalue(), media_type="text/csv", headers=headers)
    response.headers.update(headers)
    return rows
