"""RFC 9457 problem details (``application/problem+json``) for every error the API returns.

Exception tree::

    ProblemError            any error with a status, a type slug and a title
    ├── NotFound            404 (also for another organisation's resources)
    ├── Forbidden           403
    ├── Unauthorised        401
    ├── Conflict            409 (stale plan version; ``extra`` says what changed)
    └── Unprocessable       422 (a well-formed request the domain refuses)

Error texts never echo the request: validation errors list field paths and messages only,
so no name, address or key ever ends up in a response or a log line.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.core.middleware import request_id_var

__all__ = [
    "Conflict",
    "Forbidden",
    "NotFound",
    "ProblemError",
    "Unauthorised",
    "Unprocessable",
    "api_error",
    "install_problem_handlers",
    "problem_response",
]

MEDIA_TYPE = "application/problem+json"
_TYPE_BASE = "https://nachtroute.example/problems/"
logger = logging.getLogger("nachtroute.api")


class ProblemError(Exception):
    """An error answered as problem details."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Forbidden"


class Unauthorised(ProblemError):
    status, slug, title = 401, "unauthorised", "Not signed in"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class Unprocessable(ProblemError):
    status, slug, title = 422, "unprocessable", "Request refused"


def api_error(error: type[ProblemError], code: str, message: str) -> ProblemError:
    """A problem+json error that also carries the phone contract's ``ApiError`` fields."""
    return error(message, extra={"code": code, "message": message})


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": _TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


_STATUS_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorised", "Not signed in"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("too-large", "Request too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("unprocessable", "Request refused"),
    428: ("precondition-required", "Precondition required"),
}


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error, including validation and unexpected ones, as problem details."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> JSONResponse:
        challenge = getattr(error, "www_authenticate", "Bearer")
        headers = {"WWW-Authenticate": challenge} if error.status == 401 else None
        return problem_response(
            error.status,
            error.slug,
            error.title,
            error.detail,
            instance=request.url.path,
            headers=headers,
            **error.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_path(item.get("loc", ())),
                "message": str(item.get("msg", "invalid")).removeprefix("Value error, "),
                "code": str(item.get("type", "invalid")),
            }
            for item in error.errors()
        ]
        return problem_response(
            422,
            "validation-error",
            "Invalid request",
            f"{len(errors)} field(s) are invalid",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        slug, title = _STATUS_TITLES.get(error.status_code, ("error", "Error"))
        detail = error.detail if isinstance(error.detail, str) else title
        return problem_response(
            error.status_code,
            slug,
            title,
            detail,
            instance=request.url.path,
            headers=dict(error.headers) if error.headers else None,
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, error: IntegrityError) -> JSONResponse:
        # A race the repository did not foresee (two requests, one unique key): the data
        # already stored wins, the request may be retried. Class only: the message quotes it.
        logger.warning(
            "request %s: %s on %s %s",
            request_id_var.get(),
            type(error.orig).__name__,
            request.method,
            request.url.path,
        )
        return problem_response(
            409,
            "conflict",
            "Conflict",
            "the request conflicts with data stored meanwhile; read it again and retry",
            instance=request.url.path,
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, error: DataError) -> JSONResponse:
        # A value the database cannot store that validation let through (the schemas refuse
        # the known kinds, e.g. NUL characters, naming the field).
        logger.warning(
            "request %s: %s on %s %s",
            request_id_var.get(),
            type(error.orig).__name__,
            request.method,
            request.url.path,
        )
        return problem_response(
            422,
            "unstorable-value",
            "Request refused",
            "a value in the request cannot be stored",
            instance=request.url.path,
        )

    # Unexpected errors are answered by `api.core.middleware.RequestGuard` (outermost), which
    # logs the request id and the class only and re-raises nothing to the server.
