"""The NEN 7513 access log: write a row for every read or change of a client's data.

There is deliberately no update or delete here: on SQLite this module is the only writer,
and on PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE. Rows are kept at least
five years (``Settings.access_log_retention_years``); nothing in the service removes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.orm import Session

from api.core.roles import Principal
from api.db.models import AccessLogEntry, Client, Visit

__all__ = [
    "entries_for_organisation",
    "record",
    "record_admin_action",
    "record_for_clients",
    "record_for_visits",
    "record_keysafe_attempt",
    "record_refusal",
    "record_refused_attempt",
]


def _who(principal: Principal) -> dict[str, object]:
    """A row's columns naming who acted: the account or API key, the person responsible
    for it, the role and the organisation acted for."""
    return {
        "user_id": principal.user_id,
        "api_key_id": principal.api_key_id,
        "actor": principal.actor[:120],
        "responsible_user_id": principal.responsible_user_id,
        "role": principal.role.value,
        "acting_organisation_id": principal.organisation_id,
    }


def _own_export(principal: Principal) -> int | None:
    """The export a row naming no client goes to: the acting organisation's, so a partner's
    or triage partner's attempts cannot write into other organisations' logs (R02, R22-01);
    one acting for no organisation (a nurse, a planner, an admin) writes to every export."""
    return principal.organisation_id


def record(
    session: Session,
    principal: Principal,
    clients: Iterable[Client],
    *,
    event: str,
    purpose: str,
    at: datetime,
    none_shown: bool = False,
    device_id: str | None = None,
) -> None:
    """One row per client, in one INSERT statement, in the caller's transaction (committed
    with the caller's commit, so it cannot be skipped). ``none_shown``: a read that showed
    no client still writes one row (naming none): a phone's read of an empty route is how
    the service knows the phone is heard (`api.night.reach`). ``device_id``: the phone that
    read (a route read names it)."""
    rows = [
        {
            "at": at,
            "event": event,
            "client_id": client.id,
            "client_organisation_id": client.organisation_id,
            **_who(principal),
            "purpose": purpose,
            "device_id": device_id and device_id[:64],
        }
        for client in clients
    ]
    if not rows and none_shown:
        rows = [
            {
                "at": at,
                "event": event,
                "client_id": None,
                "client_organisation_id": _own_export(principal),
                **_who(principal),
                "purpose": purpose,
                "device_id": device_id and device_id[:64],
            }
        ]
    if rows:
        session.execute(insert(AccessLogEntry), rows)


def record_for_clients(
    session: Session,
    principal: Principal,
    client_ids: Iterable[int],
    *,
    event: str,
    purpose: str,
    at: datetime,
) -> None:
    """`record` for the clients of ``client_ids`` (one row per client; unknown ids skipped)."""
    wanted = set(client_ids)
    if wanted:
        found = session.scalars(select(Client).where(Client.id.in_(wanted))).all()
        record(session, principal, found, event=event, purpose=purpose, at=at)


def record_for_visits(
    session: Session,
    principal: Principal,
    visit_ids: Iterable[int],
    *,
    event: str,
    purpose: str,
    at: datetime,
) -> None:
    """`record` for the clients of ``visit_ids`` (one row per client; unknown ids skipped)."""
    wanted = set(visit_ids)
    if not wanted:
        return
    found = session.scalars(
        select(Client).join(Visit, Visit.client_id == Client.id).where(Visit.id.in_(wanted))
    )
    record(
        session,
        principal,
        {c.id: c for c in found}.values(),
        event=event,
        purpose=purpose,
        at=at,
    )


def entries_for_organisation(
    session: Session,
    organisation_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: int = 0,
    limit: int = 1000,
) -> list[AccessLogEntry]:
    """A page of the log rows about ``organisation_id``'s clients, oldest first: at most
    ``limit`` rows with ids above ``after_id`` (the cursor: the last id of the page before).

    Rows that name no client (a key-safe attempt for no known visit, a refused proof of
    possession or second factor, a caller of the wrong role) are in the acting
    organisation's export, and those of a caller acting for none (the shared night team's
    nurses, planners) in every organisation's: each privacy officer sees the attempts nobody
    can attribute to one organisation's client, and no partner writes into another's log.
    They hold who and which phone, no client data.

    Not exported: a read that showed no client (`record`'s ``none_shown``, a phone reading
    an empty route). It is how the service knows the phone is heard (`api.night.reach`),
    not an access to anyone's data, and one per empty route read filled every
    organisation's export with rows about nobody (NEN 7513 asks who saw which client).
    """
    query = select(AccessLogEntry).where(
        or_(
            AccessLogEntry.client_organisation_id == organisation_id,
            and_(
                AccessLogEntry.client_organisation_id.is_(None),
                or_(
                    AccessLogEntry.client_id.is_not(None),
                    AccessLogEntry.event != "read",  # a read naming no client read nothing
                ),
            ),
        ),
        AccessLogEntry.id > after_id,
    )
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

    A visit id that names a stored visit (another night's, say) names its client: the row
    goes to that client's organisation.
    """
    if (
        client is None
        and visit_id
        and visit_id.isascii()
        and visit_id.isdigit()
        and len(visit_id) <= 9
    ):
        client = session.scalars(
            select(Client)
            .join(Visit, Visit.client_id == Client.id)
            .where(Visit.id == int(visit_id))
        ).first()
    session.add(
        AccessLogEntry(
            at=at,
            event="keysafe.reveal",
            client_id=client.id if client is not None else None,
            client_organisation_id=(
                client.organisation_id if client is not None else _own_export(principal)
            ),
            **_who(principal),
            purpose=" ".join(f"keysafe {outcome} {reason or ''} {reveal_id}".split())[:80],
            device_id=(device_id or None) and device_id[:64],
            visit_id=(visit_id or None) and visit_id[:64],
            key_id=key_id,
        )
    )


def record_refusal(
    session: Session,
    principal: Principal,
    *,
    at: datetime,
    event: str,
    reason: str,
    device_id: str | None,
    what: str,
) -> None:
    """One row for a phone request refused before it reached any client's data (a proof of
    possession or second factor refused): who, the phone as asked for, the reason and the
    request (``what``: method and path). No client: every privacy officer's export holds it
    (`entries_for_organisation`). Added to the caller's transaction."""
    session.add(
        AccessLogEntry(
            at=at,
            event=event[:32],
            client_id=None,
            client_organisation_id=_own_export(principal),
            **_who(principal),
            # "keysafe refused <reason> ..." as the reveal rules' rows; "dpop refused ...".
            purpose=" ".join(f"{event.split('.')[0]} refused {reason} {what}".split())[:80],
            device_id=(device_id or None) and device_id[:64],
        )
    )


def record_admin_action(
    session: Session,
    principal: Principal,
    *,
    at: datetime,
    event: str,
    what: str,
    organisation_id: int | None,
) -> None:
    """One row for an admin's change to who may act (an API key revoked, a login
    deactivated): who, when, ``event`` and ``what`` (ids only: no secret, name or hash). It
    goes to ``organisation_id``'s export (the key's or the login's organisation; ``None``:
    every export). NEN 7510 asks such changes to be traceable; this log is the service's
    append-only one. Added to the caller's transaction."""
    session.add(
        AccessLogEntry(
            at=at,
            event=event[:32],
            client_id=None,
            client_organisation_id=organisation_id,
            **_who(principal),
            purpose=f"admin {what}"[:80],
        )
    )


def record_refused_attempt(
    session: Session,
    principal: Principal,
    client: Client | None,
    *,
    at: datetime,
    event: str,
    purpose: str,
    reason: str,
) -> None:
    """The row of an attempt to read or change a client's data that is refused (another
    organisation's client or request, or an id that names none): who, when, which client,
    ``<event>.refused`` and ``<purpose> refused <reason>``. The row goes to the client's
    organisation; an attempt that names no client to the acting organisation's export (one
    acting for none: every export).

    Ends the caller's transaction: what it changed is rolled back (the caller refuses the
    request next), then the row is committed, so the refusal that follows cannot undo it.
    """
    client_id = client.id if client is not None else None
    # An id that names no client is the caller's own doing: the row goes to the acting
    # organisation's export. In every export, one partner's key could write rows without
    # limit into every other organisation's log (R02); a caller acting for no organisation
    # still writes to every export.
    organisation_id = client.organisation_id if client is not None else _own_export(principal)
    session.rollback()
    session.add(
        AccessLogEntry(
            at=at,
            event=f"{event}.refused"[:32],
            client_id=client_id,
            client_organisation_id=organisation_id,
            **_who(principal),
            purpose=f"{purpose} refused {reason}"[:80],
        )
    )
    session.commit()
