"""The FastAPI application: `create_app(settings)` gathers the routers.

Nothing is built at import time: the engine, the session factory and the job runner are made
when the app starts, from the settings it was given, so tests hand in their own database.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.routing import APIRoute

from api.core.clock import clock_from_settings
from api.core.config import Settings
from api.core.middleware import RequestGuard
from api.core.problems import install_problem_handlers
from api.db.engine import make_engine, make_session_factory
from api.db.migrate import upgrade
from api.routes import (
    access_log,
    admin,
    auth,
    board,
    clients,
    handover,
    health,
    keysafe_codes,
    mobile_wiring,
    nights,
    phones,
    planner_page,
    reports,
    requests,
    triage,
)
from api.schemas.common import Problem
from api.services import phone as phone_service
from api.services import solving
from api.services.jobs import InProcessJobRunner, fail_interrupted_jobs
from api.services.live import ReplanWorker
from api.services.tolerance import use_tolerance
from api.travel import use_network
from mobile_contract.http import route_etag

__all__ = ["create_app"]

logger = logging.getLogger("nachtroute.api")


def _operation_id(route: APIRoute) -> str:
    """Stable operation ids: the endpoint function's name, so generated clients keep theirs."""
    return route.name


def _warm_routes(session_factory: Callable[[], Any], clock: Callable[[], datetime]) -> None:
    """Tonight's routes into the route cache before the first request (`warm_routes`); a
    failure only costs the first reads their build, so it is logged (its class) and passed."""
    try:
        with session_factory() as session:
            phone_service.warm_routes(session, clock(), etag_of=route_etag)
    except Exception as error:
        logger.warning("route cache not warmed: %s", type(error).__name__)


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None
) -> FastAPI:
    """The app for ``settings`` (default: from the environment)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url
        engine = make_engine(url)  # first: it makes the SQLite file's folder
        if settings.migrate_on_start:
            upgrade(url)
        # Rows record the service's clock (a simulated night records its own times).
        app.state.session_factory = make_session_factory(engine, clock=app.state.clock)
        # Road travel times if a network is configured (loaded once, before any request).
        use_network(settings.network, data_dir=settings.data_dir)
        use_tolerance(settings)  # the region's tolerance rule for planned care, likewise
        # In-process jobs die with the process: say so rather than show them running forever.
        fail_interrupted_jobs(app.state.session_factory, clock=app.state.clock)
        app.state.job_runner = InProcessJobRunner(app.state.session_factory, clock=app.state.clock)
        # Re-plans owed by a stopped process are drained first thing by the worker's thread.
        app.state.replanner = ReplanWorker(app.state.session_factory, settings, app.state.clock)
        app.state.replanner.start()
        solving.warm_up()  # the live solver process starts now, not on the first call
        _warm_routes(app.state.session_factory, app.state.clock)
        try:
            yield
        finally:
            app.state.replanner.stop()
            app.state.job_runner.shutdown()
            engine.dispose()

    app = FastAPI(
        title="nachtroute",
        version="1",
        summary="Shared regional night team: partners' requests, night plans, triage answers.",
        description=(
            "Units: times are ISO 8601 with offset, or `HH:MM` Europe/Amsterdam wall-clock "
            "inside a night (times before noon belong to the next morning); durations in "
            "minutes where a person types them, seconds where the optimizer speaks. Windows "
            "are inclusive at both ends. Errors are RFC 9457 problem details."
        ),
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        responses={
            401: {"model": Problem, "description": "not signed in"},
            403: {"model": Problem, "description": "role not allowed"},
            422: {"model": Problem, "description": "invalid request"},
        },
    )
    app.state.settings = settings
    # One clock for the whole service: the test's, else NACHTROUTE_CLOCK's, else the system's.
    app.state.clock = clock or clock_from_settings(settings)
    install_problem_handlers(app)
    for module in (
        health,
        auth,
        admin,
        clients,
        requests,
        nights,
        triage,
        access_log,
        planner_page,
        keysafe_codes,
        handover,
        phones,
        board,  # the planner's board (issue 12)
        reports,
    ):
        app.include_router(module.router)
    app.include_router(mobile_wiring.router_for(app))  # the phone API, /mobile/v1
    app.add_middleware(GZipMiddleware, minimum_size=1000)  # leaves text/event-stream alone
    # Outermost: request id, body limit before anything reads the body, the last catch.
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    return app
