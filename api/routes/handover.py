"""Hand-over notes: what the night nurse wrote at a visit, for the client's own day team.

The client's organisation reads them through the partners' API (and only its own clients');
each read is written to the access log. A later completion of a visit replaces an earlier one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.core.roles import Principal, Role
from api.db.models import Visit
from api.db.phone_models import PhoneEvent
from api.deps import ClockDep, SessionDep, allow
from api.night.device_time import corrected_time
from api.repositories import clients

router = APIRouter(tags=["partners: hand-over notes"])
Partner = Annotated[Principal, Depends(allow(Role.PARTNER))]


class HandoverNote(BaseModel):
    """Units: timestamps UTC. One visit's completion as the nurse recorded it."""

    visit_id: int
    completed_at: datetime = Field(description="the phone's clock when care was done")
    tasks_done: list[str]
    note: str


@router.get("/partner/v1/clients/{client_id}/handover-notes")
def read_handover_notes(
    client_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    clock: ClockDep,
    partner: Partner,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[HandoverNote]:
    """The latest hand-over notes of your client's night visits, newest first."""
    client = clients.get_client(session, partner, client_id, purpose="hand-over notes", now=clock())
    visits = {
        v.id: v.night_id for v in session.scalars(select(Visit).where(Visit.client_id == client.id))
    }
    latest: dict[int, tuple[datetime, str, HandoverNote]] = {}
    if visits:
        rows = session.scalars(
            select(PhoneEvent).where(
                PhoneEvent.type == "visit_completed",
                PhoneEvent.night_id.in_(set(visits.values())),
            )
        )
        for row in rows:
            visit_id = str(row.payload.get("visit_id", ""))
            if not visit_id.isdigit() or int(visit_id) not in visits:
                continue
            # When she completed it by the server's clock (her phone's clock offset added).
            done_at = corrected_time(row.device_time, row.clock_offset_seconds, row.received_at)
            note = HandoverNote(
                visit_id=int(visit_id),
                completed_at=done_at,
                tasks_done=[str(t) for t in row.payload.get("tasks_done", [])],
                note=str(row.payload.get("handover_note", "")),
            )
            key = (done_at, row.event_id)
            known = latest.get(note.visit_id)
            if known is None or key > known[:2]:
                latest[note.visit_id] = (*key, note)
    notes = sorted((n for _, _, n in latest.values()), key=lambda n: n.completed_at, reverse=True)
    return notes[:limit]
