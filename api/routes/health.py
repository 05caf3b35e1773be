"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/health")
async def read_health() -> Health:
    """The service is up (on the event loop itself: no worker thread needed to answer)."""
    return Health(status="ok")
