"""Clients: partners keep their own; planners may look one up. Every access is logged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from api.core.roles import Principal, Role
from api.deps import ClockDep, ReplannerDep, SessionDep, SettingsDep, allow
from api.repositories import clients
from api.schemas.clients import ClientCreate, ClientPublic, ClientUpdate

router = APIRouter(tags=["clients"])
Partner = Annotated[Principal, Depends(allow(Role.PARTNER))]
Planner = Annotated[Principal, Depends(allow(Role.PLANNER))]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/partner/v1/clients", status_code=status.HTTP_201_CREATED)
def create_client(
    body: ClientCreate,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    partner: Partner,
) -> ClientPublic:
    """Register a client of your organisation (its location in the region's area)."""
    client = clients.create_client(
        session, partner, body.model_dump(), now=clock(), area_km=settings.region_radius_km
    )
    return ClientPublic.model_validate(client)


@router.get("/partner/v1/clients")
def list_clients(
    session: SessionDep,
    clock: ClockDep,
    partner: Partner,
    offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ClientPublic]:
    """Your organisation's clients."""
    found = clients.list_clients(session, partner, now=clock(), offset=offset, limit=limit)
    return [ClientPublic.model_validate(c) for c in found]


@router.get("/partner/v1/clients/{client_id}")
def read_client(
    client_id: Id, session: SessionDep, clock: ClockDep, partner: Partner
) -> ClientPublic:
    """One of your clients (another organisation's: 404)."""
    client = clients.get_client(session, partner, client_id, purpose="partner read", now=clock())
    return ClientPublic.model_validate(client)


@router.patch("/partner/v1/clients/{client_id}")
def update_client(
    client_id: Id,
    body: ClientUpdate,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    replanner: ReplannerDep,
    partner: Partner,
) -> ClientPublic:
    """Change one of your clients. A new place re-plans the nights where she has open care."""
    values = body.model_dump(exclude_unset=True)
    client = clients.update_client(
        session, partner, client_id, values, now=clock(), area_km=settings.region_radius_km
    )
    if "lat" in values or "lon" in values:
        replanner.notify()  # a moved client's nights re-plan (requested in the change's commit)
    return ClientPublic.model_validate(client)


@router.get("/clients/{client_id}")
def read_client_for_planner(
    client_id: Id, session: SessionDep, clock: ClockDep, planner: Planner
) -> ClientPublic:
    """A client's address and access instructions, for steering the night."""
    client = clients.get_client(session, planner, client_id, purpose="planner read", now=clock())
    return ClientPublic.model_validate(client)
