"""Nurses' registered phones, for the planner and admin: revoke a lost phone at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.core.problems import NotFound
from api.core.roles import Principal, Role
from api.db.models import Nurse
from api.deps import ClockDep, SessionDep, allow
from api.repositories import phone as repo
from mobile_contract.devices import DeviceRegistration, DeviceStatus

router = APIRouter(tags=["planner: phones"])
Steward = Annotated[Principal, Depends(allow(Role.ADMIN, Role.PLANNER))]


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
