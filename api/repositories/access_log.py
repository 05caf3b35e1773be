"""The NEN 7513 access log: write a row for every read or change of a client's data.

There is deliberately no update or delete here: on SQLite this module is the only writer,
and on PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE. Rows are kept at least
five years (``Settings.access_log_retention_years``); nothing in the service removes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.roles import Principal
from api.db.models import AccessLogEntry, Client

__all__ = ["entries_for_organisation", "record"]


def record(
    session: Session,
    principal: Principal,
    clients: Iterable[Client],
    *,
    event: str,
    purpose: str,
    at: datetime,
) -> None:
    """Add one row per client (flushed with the caller's commit, so it cannot be skipped)."""
    for client in clients:
        session.add(
            AccessLogEntry(
                at=at,
                event=event,
                client_id=client.id,
                client_organisation_id=client.organisation_id,
                user_id=principal.user_id,
                api_key_id=principal.api_key_id,
                actor=principal.actor,
                responsible_user_id=principal.responsible_user_id,
                role=principal.role.value,
                acting_organisation_id=principal.organisation_id,
                purpose=purpose,
            )
        )


def entries_for_organisation(
    session: Session,
    organisation_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 10_000,
) -> list[AccessLogEntry]:
    """The log rows about ``organisation_id``'s clients, oldest first."""
    query = select(AccessLogEntry).where(AccessLogEntry.client_organisation_id == organisation_id)
    if since is not None:
        query = query.where(AccessLogEntry.at >= since)
    if until is not None:
        query = query.where(AccessLogEntry.at < until)
    return list(session.scalars(query.order_by(AccessLogEntry.id).limit(limit)))
