"""Nurses' phones: the seam for the phone contract (/mobile/v1 is a separate issue)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.problems import NotFound
from api.db.models import Device
from api.repositories.accounts import get_nurse

__all__ = ["active_device", "register_device", "revoke_device"]


def register_device(
    session: Session, nurse_id: int, *, label: str, public_key: str, now: datetime
) -> Device:
    """Register a phone for a nurse."""
    get_nurse(session, nurse_id)
    device = Device(nurse_id=nurse_id, label=label, public_key=public_key, registered_at=now)
    session.add(device)
    session.commit()
    return device


def active_device(session: Session, device_id: int) -> Device:
    """A registered, not revoked device, or 404."""
    device = session.get(Device, device_id)
    if device is None or device.revoked_at is not None:
        raise NotFound("no such device")
    return device


def devices_of(session: Session, nurse_id: int) -> list[Device]:
    """A nurse's devices that are not revoked."""
    return list(
        session.scalars(
            select(Device).where(Device.nurse_id == nurse_id, Device.revoked_at.is_(None))
        )
    )


def revoke_device(session: Session, device_id: int, *, now: datetime) -> None:
    """Stop trusting a device (lost phone)."""
    active_device(session, device_id).revoked_at = now
    session.commit()
