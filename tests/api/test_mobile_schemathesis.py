"""Schemathesis against /mobile/v1: whatever fits the committed contract, the router never 5xx."""

from __future__ import annotations

import warnings
from typing import Any

import schemathesis
from fastapi import FastAPI, Header, HTTPException
from hypothesis import HealthCheck, settings
from starlette.exceptions import StarletteDeprecationWarning

from api.routes.mobile import Caller, build_router
from mobile_contract.openapi import OPENAPI_PATH, load

from .fake_mobile_backend import FakeBackend

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient  # noqa: F401 - loads before schemathesis does


def _caller(authorization: str = Header()) -> Caller:
    nurse, _, device = authorization.removeprefix("Bearer ").partition(":")
    if not device:
        raise HTTPException(401)
    return Caller(nurse_id=nurse, device_id=device)


_backend = FakeBackend()
app = FastAPI()
app.include_router(
    build_router(
        backend=lambda: _backend,
        caller=_caller,
        nurse=lambda: "N1",
        stream_seconds=0,
        poll_seconds=0,
    )
)

schema = schemathesis.openapi.from_dict(load(OPENAPI_PATH))
schema.app = app


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors(case: Any) -> None:
    """Any request the contract allows gets an answer below 500."""
    response = case.call(headers={"Authorization": "Bearer N1:D1"})
    assert response.status_code < 500, response.text
