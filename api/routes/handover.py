"""Hand-over notes: what the night nurse wrote at a visit, for the client's own day team.

The client's organisation reads them through the partners' API (and only its own clients');
each read is written to the access log. A later completion of a visit replaces an earlier one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.core.roles import Principal, Role
from api.deps import ClockDep, SessionDep, allow
from api.repositories import clients, phone

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
    latest = phone.latest_completions_of_client(session, client.id)
    notes = [
        HandoverNote(
            visit_id=c.visit_id,
            completed_at=c.completed_at,
            tasks_done=c.tasks_done,
            note=c.note,
        )
        for c in latest
    ]
    return notes[:limit]
