"""Liveness, and the service's clock (so a simulator or a phone can see the time it keeps)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    clock: datetime = Field(
        description="the service's clock now (simulated outside production when configured)"
    )


@router.get("/health")
async def read_health(request: Request) -> Health:
    """The service is up (on the event loop itself: no worker thread needed to answer)."""
    return Health(status="ok", clock=request.app.state.clock())
