"""The phone router (``/mobile/v1``) wired to the service: the app's clock, the database
backend and the caller checks of `api.deps` (no data access here)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from api.core.config import Settings
from api.deps import (
    credential_still_valid,
    get_backend,
    get_caller,
    get_registering_nurse,
    get_reveal_caller,
)
from api.routes.mobile import build_router

__all__ = ["router_for"]


def router_for(app: FastAPI) -> APIRouter:
    """The ``/mobile/v1`` router on the app's clock; under test the change stream closes
    once it has caught up (so a test never waits on it) unless the settings name its
    lifetime (a test that holds streams open). The stream checks the caller's credential
    again every heartbeat (`credential_still_valid`)."""
    settings: Settings = app.state.settings
    stream = settings.route_stream_seconds
    if settings.environment == "test" and "route_stream_seconds" not in settings.model_fields_set:
        stream = 0.0
    return build_router(
        backend=get_backend,
        caller=get_caller,
        reveal_caller=get_reveal_caller,
        nurse=get_registering_nurse,
        clock=lambda: app.state.clock(),
        stream_seconds=stream,
        heartbeat_seconds=settings.stream_heartbeat_seconds,
        streams_per_nurse=settings.phone_streams_per_nurse,
        still_valid=credential_still_valid,
    )
