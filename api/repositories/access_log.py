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

__all__ = ["entries_for_organisation", "record", "record_keysafe_attempt"]


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


def record_keysafe_attempt(
    session: Session,
    principal: Principal,
    client: Client | None,
    *,
    at: datetime,
    outcome: str,
    reason: str | None,
    device_id: str | None,
    visit_id: str | None,
    key_id: str | None,
    reveal_id: object = "",
) -> None:
    """One row for a key-safe reveal or refusal, with or without a client (an unknown visit
    or a caller of the wrong role names none): who, which phone, which visit, which key id.
    Added to the caller's transaction; the caller commits before any code leaves the server.
    """
    session.add(
        AccessLogEntry(
            at=at,
            event="keysafe.reveal",
            client_id=client.id if client is not None else None,
            client_organisation_id=client.organisation_id if client is not None else None,
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
            actor=principal.actor[:120],
            responsible_user_id=principal.responsible_user_id,
            role=principal.role.value,
            acting_organisation_id=principal.organisation_id,
            purpose=" ".join(f"keysafe {outcome} {reason or ''} {reveal_id}".split())[:80],
            device_id=(device_id or None) and device_id[:64],
            visit_id=(visit_id or None) and visit_id[:64],
            key_id=key_id,
        )
    )
