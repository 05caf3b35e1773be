"""Clients: the only personal data. Every function that returns or changes one logs it."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.core.problems import Conflict, NotFound, Unprocessable
from api.core.roles import Principal, Role
from api.db.models import Client, Night, Region, Visit
from api.db.phone_models import KeySafeRecord
from api.repositories import access_log, nights

#: Default reach of a region around its base (`Settings.region_radius_km`).
AREA_KM = 60.0

__all__ = ["check_in_area", "create_client", "get_client", "list_clients", "update_client"]


def _visible(
    session: Session,
    principal: Principal,
    client_id: int,
    *,
    now: datetime,
    event: str,
    purpose: str,
) -> Client:
    """The client ``client_id`` if the caller may see it; else 404 "no such client", the
    same for another organisation's client as for none (its existence does not leak), and
    the refused attempt is access-logged (NEN 7513 logs attempts too): a row for the
    client's organisation, or in every export when the id names no client."""
    client = session.get(Client, client_id)
    if client is not None and (
        principal.role != Role.PARTNER or client.organisation_id == principal.organisation_id
    ):
        return client
    reason = "not_found" if client is None else "other_organisation"
    access_log.record_refused_attempt(
        session, principal, client, at=now, event=event, purpose=purpose, reason=reason
    )
    raise NotFound("no such client")


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def check_in_area(session: Session, lat: float, lon: float, *, area_km: float) -> None:
    """422 naming ``lat`` and ``lon`` when the point lies outside the region's area: more
    than ``area_km`` from its base (the night team cannot drive there)."""
    region = session.scalars(select(Region).order_by(Region.id)).first()
    if region is None:
        return
    if _km((region.base_lat, region.base_lon), (lat, lon)) <= area_km:
        return
    message = f"outside the region's area (more than {area_km:g} km from its base)"
    raise Unprocessable(
        f"lat, lon: {message}",
        extra={
            "errors": [
                {"field": f"body.{name}", "message": message, "code": "outside_region"}
                for name in ("lat", "lon")
            ]
        },
    )


def create_client(
    session: Session,
    principal: Principal,
    values: dict[str, Any],
    *,
    now: datetime,
    area_km: float = AREA_KM,
) -> Client:
    """A new client of the caller's organisation; 422 outside the region's area."""
    assert principal.organisation_id is not None
    check_in_area(session, values["lat"], values["lon"], area_km=area_km)
    client = Client(organisation_id=principal.organisation_id, **values)
    session.add(client)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict("a client with this external_ref exists in your organisation") from None
    access_log.record(
        session, principal, [client], event="create", purpose="register client", at=now
    )
    session.commit()
    return client


def get_client(
    session: Session, principal: Principal, client_id: int, *, purpose: str, now: datetime
) -> Client:
    """One client the caller may see; the read is logged."""
    client = _visible(session, principal, client_id, now=now, event="read", purpose=purpose)
    access_log.record(session, principal, [client], event="read", purpose=purpose, at=now)
    session.commit()
    return client


def find_client_for_partner(
    session: Session,
    principal: Principal,
    client_id: int,
    *,
    now: datetime,
    event: str,
    purpose: str,
) -> Client:
    """The caller's own client, for referencing in a request or a change (no personal data
    returned); a refused attempt (``event``, ``purpose``) is access-logged as `_visible`."""
    return _visible(session, principal, client_id, now=now, event=event, purpose=purpose)


def list_clients(
    session: Session, principal: Principal, *, now: datetime, offset: int = 0, limit: int = 100
) -> list[Client]:
    """The caller's organisation's clients; each one shown is logged."""
    query = (
        select(Client)
        .where(Client.organisation_id == principal.organisation_id)
        .order_by(Client.id)
        .offset(offset)
        .limit(limit)
    )
    clients = list(session.scalars(query))
    access_log.record(session, principal, clients, event="read", purpose="list clients", at=now)
    session.commit()
    return clients


def update_client(
    session: Session,
    principal: Principal,
    client_id: int,
    values: dict[str, Any],
    *,
    now: datetime,
    area_km: float = AREA_KM,
) -> Client:
    """Change the caller's own client; the change is logged; 422 outside the region's area."""
    client = _visible(
        session, principal, client_id, now=now, event="update", purpose="amend client"
    )
    moved = False
    if "lat" in values or "lon" in values:
        lat, lon = values.get("lat", client.lat), values.get("lon", client.lon)
        check_in_area(session, lat, lon, area_km=area_km)
        moved = (lat, lon) != (client.lat, client.lon)
    for name, value in values.items():
        setattr(client, name, value)
    client.updated_at = now
    if values.get("key_safe_present") is False:
        # No key safe, no code: a code kept for an address marked without one would be a
        # secret nobody may use (the reveal refuses it) and nobody sees to replace.
        session.execute(delete(KeySafeRecord).where(KeySafeRecord.client_id == client.id))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict("a client with this external_ref exists in your organisation") from None
    access_log.record(session, principal, [client], event="update", purpose="amend client", at=now)
    if moved:
        replan_nights_of(session, client, now=now)
    session.commit()
    return client


def replan_nights_of(session: Session, client: Client, *, now: datetime) -> list[int]:
    """Ask, in the caller's transaction, for a re-plan of every night under way or planned
    (with a plan, not ended) where ``client`` has open care: her place moved, so travel to
    it does (S25-06). The night ids; the caller's route wakes the re-plan worker."""
    found = session.scalars(
        select(Night)
        .join(Visit, Visit.night_id == Night.id)
        .where(
            Visit.client_id == client.id,
            Visit.status == "open",
            Night.plan_version > 0,
            Night.ends_at > now,
        )
        .distinct()
    ).all()
    for night in found:
        nights.mark_replan_needed(session, night, reason="client moved")
    return [night.id for night in found]
