"""Schemathesis against /mobile/v1 on the real database: the committed contract's every
operation, fed schema-shaped and edge-case input by a nurse on her phone, never a 5xx."""

from __future__ import annotations

from collections import Counter

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from mobile_contract.openapi import OPENAPI_PATH, load
from tests.api.conftest import World
from tests.api.phone_helpers import published_night, register_phone

EXAMPLES = 5


def test_mobile_api_has_no_server_errors(world: World) -> None:
    """Every /mobile/v1 operation answers below 500 on a published night."""
    published_night(world, visits=6)
    phone = register_phone(world)
    key = world.phones.by_device[phone["X-Device-Id"]]
    token = phone.pop("Authorization").partition(" ")[2]
    signed = requests.Session()

    def sign(request: requests.PreparedRequest) -> requests.PreparedRequest:
        # The reference client's proof for each generated request, as her phone sends it.
        assert request.method is not None and request.url is not None
        request.headers.update(key.headers(request.method, request.url, token))
        return request

    signed.auth = sign
    schema = schemathesis.openapi.from_dict(load(OPENAPI_PATH))
    schema.app = world.client.app
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(session=signed, headers={**(case.headers or {}), **phone})
            statuses[response.status_code] += 1
            if case.path.endswith("/devices") and response.status_code == 201:
                # Registering a phone revokes the earlier one: carry on with the new one.
                phone["X-Device-Id"] = response.json()["device_id"]
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        check()
    assert not failures, failures
    assert statuses[200] >= 10, statuses
