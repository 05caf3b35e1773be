"""Nurses' phones, for the planner and admin: revoke a lost phone at once; what the phones
reported tonight (bag shortages at shift start, calls for back-up, key-safe codes that failed).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from api.core.problems import NotFound
from api.core.roles import Principal, Role
from api.db.models import Nurse
from api.deps import ClockDep, SessionDep, allow
from api.nightbag import bag_status
from api.repositories import access_log, accounts, nights
from api.repositories import phone as repo
from api.services import phone as service
from mobile_contract.bag import Shortage
from mobile_contract.devices import DeviceRegistration, DeviceStatus

router = APIRouter(tags=["planner: phones"])
Steward = Annotated[Principal, Depends(allow(Role.ADMIN, Role.PLANNER))]
Planner = Annotated[Principal, Depends(allow(Role.PLANNER))]


@router.post("/phones/{device_id}/revoke")
def revoke_phone(
    device_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    clock: ClockDep,
    steward: Steward,
) -> DeviceRegistration:
    """Revoke a lost phone: its calls and key-safe reveals are refused from now on."""
    found = repo.device(session, device_id)
    if found is None:
        raise NotFound("no such phone")
    repo.revoke_device(session, found, user_id=steward.user_id, now=clock())
    nurse = session.get(Nurse, found.nurse_id)
    return DeviceRegistration(
        device_id=found.id,
        nurse_id=nurse.code if nurse is not None else str(found.nurse_id),
        registered_at=found.registered_at,
        status=DeviceStatus.REVOKED,
    )


class PhoneReport(BaseModel):
    """Units: timestamps UTC. What a nurse's phone reported tonight, for the planner."""

    nurse: str
    device_id: str | None = Field(description="her registered, active phone; null if none")
    shift_started_at: datetime | None
    shift_ended_at: datetime | None
    bag_shortages: list[Shortage] = Field(description="items below their minimum now")
    backup_requests: list[dict[str, Any]] = Field(description="calls for back-up, oldest first")
    key_safe_flags: list[str] = Field(description="visits where the key-safe code did not work")
    last_position_at: datetime | None


@router.get("/nights/{night_date}/phones")
def read_night_phones(
    night_date: Annotated[date, Path(ge=date(2000, 1, 1), le=date(2200, 1, 1))],
    session: SessionDep,
    clock: ClockDep,
    planner: Planner,
) -> list[PhoneReport]:
    """Per nurse on shift: her phone, the bag's shortages, back-up calls and key-safe flags."""
    region = accounts.get_region(session)
    night = nights.require_night(session, region, night_date)
    reports = []
    named: set[int] = set()
    for nurse, shift in nights.shifts_of(session, night):
        nn = service.NurseNight(region=region, night=night, nurse=nurse, shift=shift, route=None)
        state = service.shift_state(session, nn)
        template = repo.bag_template(session, region)
        device = repo.active_device_of(session, nurse.id)
        reports.append(
            PhoneReport(
                nurse=nurse.code,
                device_id=device.id if device is not None else None,
                shift_started_at=state.shift_started_at,
                shift_ended_at=state.shift_ended_at,
                bag_shortages=bag_status(template, state).shortages,
                backup_requests=[
                    {
                        "at": b.at.isoformat(),
                        "visit_id": b.visit_id,
                        "urgency": b.urgency.value,
                        "note": b.note,
                    }
                    for b in state.backup_requests
                ],
                key_safe_flags=list(state.key_safe_flags),
                last_position_at=state.last_position[0] if state.last_position else None,
            )
        )
        named.update(
            int(b.visit_id)
            for b in state.backup_requests
            if b.visit_id and b.visit_id.isascii() and b.visit_id.isdigit() and len(b.visit_id) <= 9
        )
    if named:
        # A call for back-up names the visit and carries the nurse's note about its client:
        # reading it is a read of that client's data (NEN 7513, R22-07).
        access_log.record_for_visits(
            session, planner, named, event="read", purpose="planner phones", at=clock()
        )
        session.commit()
    return reports
