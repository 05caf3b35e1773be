"""The outermost guard of every request: a request id, a body size limit, and the last catch.

Pure ASGI (no body buffering), added last so it wraps everything else::

    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)

- **Request id**: ``X-Request-ID`` on every response (a fresh random id; an incoming one is
  not trusted, so a caller cannot forge log lines), and in `request_id_var` for log lines.
- **Body limit**: a ``Content-Length`` above ``max_body_bytes`` is answered 413 before the
  application sees the request; a body without one (chunked) is counted while it is read and
  refused with 413 as soon as it passes the limit, so neither is ever buffered or parsed.
- **Unexpected errors**: answered 500 problem+json carrying the request id; the log line has
  the request id and the exception's class only, never its message or traceback (a driver's
  message quotes SQL parameters: names, addresses, hashes). Nothing is re-raised, so the ASGI
  server has no traceback to print either.
"""

from __future__ import annotations

import json
import logging
import secrets
from contextvars import ContextVar
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestGuard", "request_id_var"]

logger = logging.getLogger("nachtroute.api")

#: The current request's id ("-" outside a request), for log lines.
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_PROBLEM = "application/problem+json"
_TYPE_BASE = "https://nachtroute.example/problems/"


class BodyTooLarge(HTTPException):
    """The body passed the limit while it was read (answered 413 by the problem handlers)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def _problem(status: int, slug: str, title: str, detail: str, request_id: str) -> bytes:
    body = {
        "type": _TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    }
    return json.dumps(body).encode()


class RequestGuard:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        token = request_id_var.set(request_id)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        async def answer(status: int, slug: str, title: str, detail: str) -> None:
            body = _problem(status, slug, title, detail, request_id)
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", _PROBLEM.encode()),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send_with_id({"type": "http.response.body", "body": body})

        try:
            limit = self.max_body_bytes
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await answer(
                    413, "too-large", "Request too large", f"the body is larger than {limit} bytes"
                )
                return
            received = 0

            async def counted_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise BodyTooLarge(limit)
                return message

            try:
                await self.app(scope, counted_receive, send_with_id)
            except BodyTooLarge:
                # Read outside a route (no problem handler on the way): answer it here.
                if not started:
                    await answer(
                        413,
                        "too-large",
                        "Request too large",
                        f"the body is larger than {limit} bytes",
                    )
            except Exception as error:
                # The class only: a driver's message quotes SQL parameters (personal data).
                logger.error(
                    "request %s: unexpected %s on %s %s",
                    request_id,
                    type(error).__name__,
                    scope.get("method", "-"),
                    scope.get("path", "-"),
                )
                if not started:
                    await answer(
                        500,
                        "internal-error",
                        "Internal error",
                        f"Something went wrong on our side (request {request_id}).",
                    )
        finally:
            request_id_var.reset(token)


def _content_length(scope: Scope) -> int | None:
    headers: Any = scope.get("headers", [])
    for name, value in headers:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            # ASCII digits only: "²" is a digit to str.isdigit, and int() refuses it.
            return int(text) if text.isascii() and text.isdigit() else None
    return None
