"""Schemathesis against the OpenAPI: generated requests to every operation, never a 5xx.

Kept bounded (a few examples per operation) so the suite stays fast; each operation is called
with a role that may use it, so the handlers, not just the auth check, are exercised.
"""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings

from api.core.roles import Role
from tests.api.conftest import World, new_client
from tests.api.test_authorisation_matrix import EXPECTED, USERS

EXAMPLES = 6


def test_no_server_errors(world: World) -> None:
    """Every operation, fed schema-shaped and edge-case input, answers below 500."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    new_client(world, world.seeded.home_care[0])
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        _exercise(world, result.ok(), failures, statuses)
    assert not failures, failures
    assert sum(statuses.values()) >= operations
    assert any(200 <= code < 300 for code in statuses), statuses


def _headers(world: World, operation_id: str) -> dict[str, str]:
    allowed = EXPECTED[operation_id]
    role = Role.PLANNER if isinstance(allowed, str) else sorted(allowed)[0]
    if role == Role.PARTNER:
        return world.key(world.seeded.home_care[0])
    if role == Role.TRIAGE:
        return world.key(world.seeded.triage[0])
    return world.token(USERS[role], second_factor=role == Role.PRIVACY_OFFICER)


def _exercise(
    world: World,
    operation: schemathesis.APIOperation,
    failures: list[str],
    statuses: Counter[int],
) -> None:
    headers = _headers(world, operation.definition.raw["operationId"])

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        response = case.call(headers={**(case.headers or {}), **headers})
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

    check()
