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

    def __init__(
        self,
        detail: str,
        *,
        extra: dict[str, Any] | None = None,
        field: str | None = None,
        code: str = "refused",
    ) -> None:
        """``field``: the input it is about, as a validation error names it
        (``body.window.start``); it becomes the answer's one ``errors`` entry."""
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        if field is not None and "errors" not in self.extra:
            self.extra["errors"] = [{"field": field, "message": detail, "code": code}]


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Forbidden"


class Unauthorised(ProblemError):
    status, slug, title = 401, "unauthorised", "Not signed in"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class NurseSilent(ProblemError):
    """A planner's change that gives care to a nurse whose phone is silent
    (`api.night.reach`), not acknowledged: a 409 of its own (not a stale version)."""

    status, slug, title = 409, "nurse-silent", "The nurse's phone is silent"


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


def _field_path(location: tuple[Any, ...] | list[Any], given: Any = None) -> str:
    """``body.window.start``: the path in the input as sent. ``given``: the parsed body; a
    tagged union's tag (``planned`` in ``body.planned.window``, pydantic's) is left out, as
    it is no field of the input but the value of its ``kind``."""
    path = ""
    at = given
    for number, part in enumerate(location):
        if (
            number > 0
            and location[0] == "body"
            and isinstance(at, dict)
            and isinstance(part, str)
            and part not in at
            and part in at.values()
            and number + 1 < len(location)
        ):
            continue  # the union's tag: the value of a field such as ``kind``
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        if number > 0 and isinstance(at, dict):
            at = at.get(part)
        elif number > 0 and isinstance(at, list) and isinstance(part, int) and part < len(at):
            at = at[part]
        elif number > 0:
            at = None
    return path


def _validation_error(item: dict[str, Any], given: Any) -> dict[str, str]:
    """One entry of a 422's ``errors``: the field's path, a message that never quotes the
    input, pydantic's code."""
    code = str(item.get("type", "invalid"))
    location = tuple(item.get("loc", ()))
    if code == "json_invalid":
        # pydantic's location is the character where parsing stopped: not a field.
        where = location[1] if len(location) > 1 and isinstance(location[1], int) else None
        reason = str((item.get("ctx") or {}).get("error", "")).strip()
        at = f" at character {where}" if where is not None else ""
        return {
            "field": "body",
            "message": f"not valid JSON{at}" + (f": {reason}" if reason else ""),
            "code": code,
        }
    if location == ("body",) and code == "missing":
        return {"field": "body", "message": "a JSON body is required", "code": code}
    return {
        "field": _field_path(location, given),
        "message": str(item.get("msg", "invalid")).removeprefix("Value error, "),
        "code": code,
    }


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


def _unreadable_body(error: StarletteHTTPException) -> str | None:
    """Why a body FastAPI could not read is not JSON, or ``None`` for any other error.

    FastAPI answers a body that its JSON parser rejects with a 422 (``json_invalid``), but one
    that fails otherwise (invalid UTF-8, nesting too deep for the parser, a number of more
    digits than Python converts) with a bare 400 "There was an error parsing the body", the
    parser's exception as its cause (red team s25, R-D): named here as the 422 would be,
    without quoting the input."""
    cause = error.__cause__
    if error.status_code != 400 or cause is None:
        return None
    if isinstance(cause, UnicodeDecodeError):
        return "not valid JSON: the body is not UTF-8"
    if isinstance(cause, RecursionError):
        return "not valid JSON: nested too deeply"
    if isinstance(cause, ValueError):
        return "not valid JSON: a number with too many digits"
    return "not valid JSON"


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
        given = error.body if isinstance(error.body, dict | list) else None
        errors = [_validation_error(dict(item), given) for item in error.errors()]
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
        unreadable = _unreadable_body(error)
        if unreadable is not None:
            return problem_response(
                422,
                "validation-error",
                "Invalid request",
                "1 field(s) are invalid",
                instance=request.url.path,
                errors=[{"field": "body", "message": unreadable, "code": "json_invalid"}],
            )
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
