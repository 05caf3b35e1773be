"""Partners' monthly feedback: their own organisation's figures and cost share only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from api.core.problems import NotFound
from api.core.roles import Principal, Role
from api.deps import ClockDep, SessionDep, SettingsDep, allow
from api.repositories import access_log
from api.services.reports import MONTH_PATTERN, month_report

router = APIRouter(prefix="/partner/v1", tags=["partner: reports"])
Partner = Annotated[Principal, Depends(allow(Role.PARTNER))]
Month = Annotated[str, Path(pattern=MONTH_PATTERN, examples=["2026-11"], description="YYYY-MM")]


class OrganisationMonth(BaseModel):
    """Units: minutes, euros. One organisation's month of the night team."""

    organisation_id: int
    name: str
    visits: int
    visits_done: int
    care_minutes_done: float
    calls: int
    calls_within_target: int
    calls_handed_off: int = Field(
        description="of calls: cancelled with reason handed_to_backup (the team was not there)"
    )
    planned_in_window: int
    planned_done: int
    planned_handed_off: int = Field(
        description="planned care cancelled with reason handed_to_backup (not in planned_done)"
    )
    cost_share_eur: float


class VisitLine(BaseModel):
    """Units: minutes. One of the organisation's visits (ids only)."""

    night: str
    visit_id: int
    client_id: int
    urgency: str
    status: str = Field(
        description="open | started | done | could_not_get_in | handed_to_backup "
        "(care no longer needed is not listed)"
    )
    care_minutes: float
    response_minutes: float | None
    within_target: bool | None
    late_minutes: float | None


class PartnerMonthReport(BaseModel):
    """Your organisation's month: figures, cost share under the region's rule, visits."""

    month: str
    nights: int = Field(description="the nights billed: ended, planned, with a nurse on shift")
    nights_not_ended: list[str] = Field(
        description="planned nights of the month still running (or ahead) when read: left "
        "out of every figure, the visits and the cost until they end (then final)"
    )
    total_cost_eur: float
    basis: str
    organisation: OrganisationMonth
    visits: list[VisitLine]


@router.get("/reports/{month}")
def read_month_report(
    month: Month, session: SessionDep, settings: SettingsDep, clock: ClockDep, partner: Partner
) -> PartnerMonthReport:
    """Your organisation's figures for the month (``YYYY-MM``), never another's, for the
    nights that have ended (a night still running is named in ``nights_not_ended``). The
    visits name clients by id; reading them is access-logged (NEN 7513), once per client."""
    assert partner.organisation_id is not None  # a partner always acts for one organisation
    now = clock()
    report = month_report(
        session, settings, month, now=now, organisation_id=partner.organisation_id
    )
    if not report.organisations:
        raise NotFound("no home-care organisation of yours")
    clients = {r.client_id for r in report.visits}
    if clients:
        access_log.record_for_clients(
            session, partner, clients, event="read", purpose="monthly report", at=now
        )
        session.commit()
    own = report.organisations[0]
    return PartnerMonthReport(
        month=report.month,
        nights=len(report.nights),
        nights_not_ended=report.nights_not_ended,
        total_cost_eur=report.total_cost_eur,
        basis=report.basis,
        organisation=OrganisationMonth.model_validate(own, from_attributes=True),
        visits=[VisitLine.model_validate(r, from_attributes=True) for r in report.visits],
    )
