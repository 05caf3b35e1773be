"""JSON ``true`` is no number (red team s25, finding S25-05; report only).

Pydantic's lax mode reads ``true`` as ``1`` for an ``int`` field: a partner system that sends
``"service_minutes": true`` (a mapping bug on its side) gets a one-minute visit planned, and
``"client_id": true`` names client 1, whatever that is. Refusing it means strict integers on
every count and id of the request schemas (and the committed OpenAPI): more than this
session's fix budget, so it is kept as a strict xfail until fixed.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import World, new_client, planned_body

CALLS = "/partner/v1/visit-requests"


@pytest.mark.xfail(strict=True, reason="S25-05: lax ints take true as 1 (report only)")
@pytest.mark.parametrize("field", ["service_minutes", "client_id", "nurses_needed"])
def test_true_is_refused_where_a_number_is_asked(world: World, field: str) -> None:
    org = world.seeded.home_care[0]
    body = planned_body(new_client(world, org)) | {field: True}
    answer = world.client.post(CALLS, json=body, headers=world.key(org))
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [f"body.{field}"]
