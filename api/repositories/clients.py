"""Clients: the only personal data. Every function that returns or changes one logs it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.core.problems import Conflict, NotFound
from api.core.roles import Principal, Role
from api.db.models import Client
from api.repositories import access_log

__all__ = ["create_client", "get_client", "list_clients", "update_client"]


def _visible(principal: Principal, client: Client | None) -> Client:
    # Another organisation's client is "not found", so its existence does not leak.
    if client is None:
        raise NotFound("no such client")
    if principal.role == Role.PARTNER and client.organisation_id != principal.organisation_id:
        raise NotFound("no such client")
    return client


def create_client(
    session: Session, principal: Principal, values: dict[str, Any], *, now: datetime
) -> Client:
    """A new client of the caller's organisation."""
    assert principal.organisation_id is not None
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
    client = _visible(principal, session.get(Client, client_id))
    access_log.record(session, principal, [client], event="read", purpose=purpose, at=now)
    session.commit()
    return client


def find_client_for_partner(session: Session, principal: Principal, client_id: int) -> Client:
    """The caller's own client, for referencing in a request (no personal data returned)."""
    return _visible(principal, session.get(Client, client_id))


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
    session: Session, principal: Principal, client_id: int, values: dict[str, Any], *, now: datetime
) -> Client:
    """Change the caller's own client; the change is logged."""
    client = _visible(principal, session.get(Client, client_id))
    for name, value in values.items():
        setattr(client, name, value)
    client.updated_at = now
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict("a client with this external_ref exists in your organisation") from None
    access_log.record(session, principal, [client], event="update", purpose="amend client", at=now)
    session.commit()
    return client
