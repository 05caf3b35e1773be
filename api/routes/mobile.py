"""The phone API's router (``/mobile/v1``): HTTP rules over a `MobileBackend`, no database here.

This module owns what the contract says about HTTP: paths and operation ids (from
`mobile_contract.endpoints`), ETag/If-None-Match → 304 on the route, ``Cache-Control:
no-store`` on everything key-safe, the resumable SSE stream, lenient event batches (one bad
event is rejected alone), and error bodies that never echo the request. The service supplies
the data behind a `MobileBackend` and the caller's identity, as FastAPI dependencies::

    router = build_router(backend=get_mobile_backend, caller=current_device, nurse=signed_in)
    app.include_router(router)
    app.add_middleware(GZipMiddleware, minimum_size=1000)  # the SSE stream is left alone
"""

# No `from __future__ import annotations`: FastAPI must see the handlers' annotations, which
# use aliases local to `build_router`, as real objects when each handler is defined.

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from api.core.problems import problem_response
from api.services.stream_slots import (
    SIGNED_OUT,
    STREAM_RETRY_AFTER_SECONDS,
    SlotStream,
    StreamSlots,
)
from mobile_contract._base import ApiError
from mobile_contract.bag import BagStatus, BagTemplate, RestockList
from mobile_contract.devices import DeviceRegistration, DeviceRegistrationRequest
from mobile_contract.endpoints import ENDPOINTS, PREFIX
from mobile_contract.events import BatchResult, ParsedBatch, parse_batch
from mobile_contract.http import (
    NO_STORE_HEADERS,
    etag_matches,
    format_sse,
    parse_last_event_id,
    route_etag,
)
from mobile_contract.keysafe import KeySafeRefusal, KeySafeRevealRequest, KeySafeRevealResponse
from mobile_contract.route import MyRoute, RouteChangedNotice

__all__ = ["Caller", "MobileBackend", "build_router"]

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the nurse and her registered, active phone (from the bound token)."""

    nurse_id: str
    device_id: str
    #: The caller's role: only the key-safe reveal lets another role through, to log it.
    role: str = "nurse"


class MobileBackend(Protocol):
    """What the service provides behind the router; every method may block (run in a thread).

    Methods return None where the contract answers 404 (nothing tonight).
    """

    def register_device(
        self, nurse_id: str, request: DeviceRegistrationRequest, now: datetime
    ) -> DeviceRegistration:
        """Register the phone for the signed-in nurse."""
        ...

    def my_route(self, caller: Caller) -> MyRoute | None:
        """The nurse's route tonight (never a key-safe code in it)."""
        ...

    def notices_after(self, caller: Caller, last_event_id: int) -> Sequence[RouteChangedNotice]:
        """The route-changed notices with ``event_id`` above ``last_event_id``, oldest first."""
        ...

    def upload_events(self, caller: Caller, batch: ParsedBatch, now: datetime) -> BatchResult:
        """Store the batch (`api.offline_events.apply_batch`), results for every index,
        including ``batch.rejected``, and the route version after it."""
        ...

    def reveal(
        self, caller: Caller, request: KeySafeRevealRequest, now: datetime
    ) -> KeySafeRevealResponse | KeySafeRefusal:
        """Decide, log and answer (`api.keysafe.handle_reveal`)."""
        ...

    def refuse_caller(
        self, caller: Caller, visit_id: str | None, now: datetime, reason: str
    ) -> None:
        """Write the access-log row of a reveal refused before the rules: a caller who is
        no nurse (``wrong_role``), or a request that does not parse (``invalid_request``)."""
        ...

    def bag_template(self, caller: Caller) -> BagTemplate:
        """The nurse's team's night bag template."""
        ...

    def bag_status(self, caller: Caller) -> BagStatus | None:
        """The bag now (`api.nightbag.bag_status`)."""
        ...

    def restock_list(self, caller: Caller) -> RestockList | None:
        """What to refill (`api.nightbag.restock_list`)."""
        ...


_NOT_A_NURSE = "only a nurse's phone uses this API"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _json(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        model.model_dump_json(), status_code=status, media_type="application/json", headers=headers
    )


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(ApiError(code=code, message=message), status, headers)


class _BadBody(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _read(request: Request, model: type[Model]) -> Model:
    """The body as ``model``; errors name the field, never the value (no echo of input)."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as error:
        item = error.errors(include_input=False, include_url=False)[0]
        path = ".".join(str(part) for part in item["loc"]) or "(body)"
        raise _BadBody(f"{path}: {item['msg']}"[:300]) from None


def build_router(
    *,
    backend: Callable[..., MobileBackend | Awaitable[MobileBackend]],
    caller: Callable[..., Caller | Awaitable[Caller]],
    nurse: Callable[..., str | Awaitable[str]],
    reveal_caller: Callable[..., Caller | Awaitable[Caller]] | None = None,
    clock: Callable[[], datetime] = _utc_now,
    stream_seconds: float = 300.0,
    poll_seconds: float = 2.0,
    heartbeat_seconds: float = 15.0,
    streams_per_nurse: int = 3,
    still_valid: Callable[[Request], bool] | None = None,
) -> APIRouter:
    """The ``/mobile/v1`` router.

    ``backend``, ``caller`` (the bearer token bound to a registered, active phone, else 401)
    and ``nurse`` (signed in with second factor, for `register_device`) are FastAPI
    dependencies; ``reveal_caller`` (default ``caller``) checks the key-safe reveal's caller,
    which may let any phone through so the reveal rules refuse it, logged. The change stream
    closes after ``stream_seconds`` (the phone reconnects with Last-Event-ID), polls the
    backend every ``poll_seconds`` and sends a comment line every ``heartbeat_seconds`` so
    proxies keep it open. One nurse's phones hold at most ``streams_per_nurse`` change streams
    open at once (more: 429 ``too_many_streams`` with ``Retry-After``; R15's cap, as the
    board's); a stream's place is free again once it ends or its client goes away.
    ``still_valid`` (blocking, run in a worker thread) says whether the caller's credential
    is still valid: the stream asks it at least every ``heartbeat_seconds`` and ends with the
    comment ``: signed out`` once it is not (a deactivated login, a revoked phone); ``None``:
    the stream is checked only when it opens.
    """
    router = APIRouter(prefix=PREFIX, tags=["mobile"])
    spec = {e.operation_id: e for e in ENDPOINTS}
    # Aliases local to this router (FastAPI reads them when each handler is defined below).
    backend_dep = Annotated[MobileBackend, Depends(backend)]
    caller_dep = Annotated[Caller, Depends(caller)]
    reveal_caller_dep = Annotated[Caller, Depends(reveal_caller or caller)]
    nurse_dep = Annotated[str, Depends(nurse)]
    # One per router, and the service builds one router per app: the counts of one process.
    stream_slots = StreamSlots(streams_per_nurse)

    def route(
        operation_id: str, responses: dict[int | str, dict[str, Any]] | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        endpoint = spec[operation_id]
        return router.api_route(
            endpoint.path,
            methods=[endpoint.method.upper()],
            operation_id=operation_id,
            summary=endpoint.summary,
            responses=responses,
        )

    @route("register_device")
    async def register_device(request: Request, nurse_id: nurse_dep, b: backend_dep) -> Response:
        try:
            body = await _read(request, DeviceRegistrationRequest)
        except _BadBody as error:
            return _error(422, "invalid", error.message)
        registration = await run_in_threadpool(b.register_device, nurse_id, body, clock())
        return _json(registration, 201)

    @route("get_my_route")
    async def get_my_route(
        who: caller_dep,
        b: backend_dep,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        found = await run_in_threadpool(b.my_route, who)
        if found is None:
            return _error(404, "not_found", "no route for you tonight")
        etag = route_etag(found)
        # private: personal data never sits in a shared cache; no-cache: always revalidate.
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if etag_matches(if_none_match, etag):
            return Response(status_code=304, headers=headers)
        return _json(found, headers=headers)

    @route(
        "stream_route_changes",
        {429: {"description": "the nurse's phones hold the most open change streams allowed"}},
    )
    async def stream_route_changes(
        request: Request,
        who: caller_dep,
        b: backend_dep,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        after = parse_last_event_id(last_event_id)
        # Per nurse: whichever of her phones (registering one revokes the last) or tokens opens it.
        if not stream_slots.take(who.nurse_id):
            message = (
                f"at most {stream_slots.per_holder} open change streams per nurse; close one "
                "or poll GET /me/route"
            )
            return problem_response(
                429,
                "too-many-streams",
                "Too many open change streams",
                message,
                instance=request.url.path,
                headers={"Retry-After": str(STREAM_RETRY_AFTER_SECONDS)},
                code="too_many_streams",
                message=message,
            )

        async def messages() -> AsyncIterator[str]:
            nonlocal after
            yield "retry: 5000\n\n"
            deadline = time.monotonic() + stream_seconds
            quiet_since = checked_at = time.monotonic()
            while True:
                for notice in await run_in_threadpool(b.notices_after, who, after):
                    yield format_sse(notice)
                    after = max(after, notice.event_id)
                    quiet_since = time.monotonic()
                if time.monotonic() >= deadline:
                    return
                if still_valid is not None and time.monotonic() - checked_at >= heartbeat_seconds:
                    # Checked when it opened only, a stream ran its lifetime after her login
                    # was deactivated or her phone revoked (review s25).
                    if not await run_in_threadpool(still_valid, request):
                        yield SIGNED_OUT
                        return
                    checked_at = time.monotonic()
                if time.monotonic() - quiet_since >= heartbeat_seconds:
                    yield ": keep-alive\n\n"
                    quiet_since = time.monotonic()
                await asyncio.sleep(poll_seconds)

        return SlotStream(
            messages(),
            release=lambda: stream_slots.release(who.nurse_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @route("upload_events")
    async def upload_events(request: Request, who: caller_dep, b: backend_dep) -> Response:
        try:
            batch = parse_batch(await request.body())
        except ValueError as error:
            return _error(422, "invalid", str(error)[:300])
        result = await run_in_threadpool(b.upload_events, who, batch, clock())
        return _json(result)

    @route("reveal_key_safe_code")
    async def reveal_key_safe_code(
        request: Request, who: reveal_caller_dep, b: backend_dep
    ) -> Response:
        try:
            body = await _read(request, KeySafeRevealRequest)
        except _BadBody as error:
            if who.role != "nurse":
                await run_in_threadpool(b.refuse_caller, who, None, clock(), "wrong_role")
                return _error(403, "forbidden", _NOT_A_NURSE, dict(NO_STORE_HEADERS))
            await run_in_threadpool(b.refuse_caller, who, None, clock(), "invalid_request")
            return _error(422, "invalid", error.message, dict(NO_STORE_HEADERS))
        if who.role != "nurse":
            await run_in_threadpool(b.refuse_caller, who, body.visit_id, clock(), "wrong_role")
            return _error(403, "forbidden", _NOT_A_NURSE, dict(NO_STORE_HEADERS))
        answer = await run_in_threadpool(b.reveal, who, body, clock())
        status = 200 if isinstance(answer, KeySafeRevealResponse) else 403
        return _json(answer, status, dict(NO_STORE_HEADERS))

    @route("get_bag_template")
    async def get_bag_template(who: caller_dep, b: backend_dep) -> Response:
        return _json(await run_in_threadpool(b.bag_template, who))

    @route("get_bag_status")
    async def get_bag_status(who: caller_dep, b: backend_dep) -> Response:
        found = await run_in_threadpool(b.bag_status, who)
        return _error(404, "not_found", "no shift tonight") if found is None else _json(found)

    @route("get_restock_list")
    async def get_restock_list(who: caller_dep, b: backend_dep) -> Response:
        found = await run_in_threadpool(b.restock_list, who)
        return _error(404, "not_found", "no shift tonight") if found is None else _json(found)

    return router
