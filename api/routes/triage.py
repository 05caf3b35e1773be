"""Triage partners ask: can a night nurse be there in time? (No full solve: a quote.)"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.core.roles import Principal, Role
from api.deps import ClockDep, SessionDep, SettingsDep, allow
from api.repositories.clients import check_in_area
from api.schemas.accounts import Skill
from api.schemas.clients import Lat, Lon
from api.schemas.common import NotBool, Strict
from api.schemas.requests import CareTask
from api.services.triage import capacity
from optimizer.model import Location

router = APIRouter(prefix="/triage/v1", tags=["triage"])
Triage = Annotated[Principal, Depends(allow(Role.TRIAGE))]


class CapacityQuestion(Strict):
    """Where, how urgent, how soon. The location is used for this answer only, never stored."""

    lat: Lat
    lon: Lon
    within_minutes: Annotated[int, Field(ge=1, le=240), NotBool] = 30
    urgency: Literal["acute", "urgent", "soon"] = "acute"
    service_minutes: Annotated[int, Field(ge=1, le=240), NotBool] = 20
    required_skills: list[Skill] = Field(default_factory=list)
    care_task: CareTask | None = Field(
        default=None,
        description=(
            "the call's care task, as the visit request will name it: what it takes from the "
            "night bag is counted (a nurse whose bag lacks it restocks first); left out, the "
            "answer counts nothing and may name a nurse the call then cannot have"
        ),
    )


class CapacityAnswerPublic(BaseModel):
    """Yes with nurse and ETA; or no with a reason, so the caller sends the back-up partner."""

    available: bool
    reason: Literal[
        "in_time",
        "not_in_time",
        "no_capacity",
        "no_skilled_nurse",
        "no_nurses_on_shift",
        "outside_night_hours",
    ]
    message: str
    nurse: str | None = Field(default=None, description="the nurse's code")
    eta: datetime | None = None
    eta_minutes: int | None = None
    best_eta_minutes: int | None = None


@router.post("/capacity")
def ask_capacity(
    body: CapacityQuestion,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    _: Triage,
) -> CapacityAnswerPublic:
    """Can a night nurse be at this location within N minutes for this urgency? A place
    outside the region's area (a wrong or swapped coordinate) is 422 naming ``lat``, ``lon``."""
    # Not "no capacity": the caller must learn the coordinate is wrong, not the team full.
    check_in_area(session, body.lat, body.lon, area_km=settings.region_radius_km)
    answer = capacity(
        session,
        location=Location(lat=body.lat, lon=body.lon),
        within_minutes=body.within_minutes,
        urgency=body.urgency,
        service_minutes=body.service_minutes,
        required_skills=list(body.required_skills),
        care_task=body.care_task,
        now=clock(),
    )
    return CapacityAnswerPublic.model_validate(answer, from_attributes=True)
