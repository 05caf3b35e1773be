"""The committed contract: the OpenAPI file matches the code, and v1 phones keep working."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mobile_contract.openapi import (
    ACCEPTED_BREAKS,
    BASELINE_PATH,
    OPENAPI_PATH,
    breaking_changes,
    build_openapi,
    dumps,
    load,
    unaccepted_breaks,
)


@pytest.fixture
def current() -> dict[str, Any]:
    return build_openapi()


def test_committed_openapi_matches_the_code(current: dict[str, Any]) -> None:
    """openapi.json is what the models generate (else run `nachtroute mobile openapi`)."""
    assert OPENAPI_PATH.read_text(encoding="utf-8") == dumps(current)


def test_no_change_breaks_a_v1_phone(current: dict[str, Any]) -> None:
    """Nothing a phone built on the v1 baseline relies on was removed, renamed or tightened,
    apart from the breaks accepted with their reason (issue 14: a DPoP proof on every call,
    the token sent as 'Authorization: DPoP'), and each of those is really there."""
    assert unaccepted_breaks(load(BASELINE_PATH), current) == []
    assert sorted(breaking_changes(load(BASELINE_PATH), current)) == sorted(ACCEPTED_BREAKS)


def test_a_new_security_requirement_is_a_breaking_change(current: dict[str, Any]) -> None:
    """An operation asking for another scheme of token breaks phones built on the old."""
    changed = copy.deepcopy(current)
    changed["paths"]["/mobile/v1/me/route"]["get"]["security"] = [{"mtls": []}]
    assert breaking_changes(current, changed) == [
        "GET /mobile/v1/me/route: security ['dpop'] -> ['mtls']"
    ]
    assert unaccepted_breaks(current, changed)[0].startswith("GET /mobile/v1/me/route")


def test_removed_field_is_flagged(current: dict[str, Any]) -> None:
    """Dropping a field the phone reads (the visit's address) is a breaking change."""
    changed = copy.deepcopy(current)
    del changed["components"]["schemas"]["VisitStep"]["properties"]["address"]
    problems = breaking_changes(current, changed)
    assert any("'address' removed or renamed" in p for p in problems)


def test_renamed_field_is_flagged(current: dict[str, Any]) -> None:
    """Renaming a field the phone sends (handover_note) is a breaking change."""
    changed = copy.deepcopy(current)
    schema = changed["components"]["schemas"]["VisitCompletedEvent"]
    schema["properties"]["note"] = schema["properties"].pop("handover_note")
    problems = breaking_changes(current, changed)
    assert any("'handover_note' removed or renamed" in p for p in problems)


def test_removed_endpoint_is_flagged(current: dict[str, Any]) -> None:
    """Dropping an endpoint is a breaking change."""
    changed = copy.deepcopy(current)
    del changed["paths"]["/mobile/v1/me/events"]
    assert breaking_changes(current, changed) == ["POST /mobile/v1/me/events: endpoint removed"]


def test_removed_enum_value_is_flagged(current: dict[str, Any]) -> None:
    """Dropping a refusal reason the phone knows is a breaking change."""
    changed = copy.deepcopy(current)
    changed["components"]["schemas"]["RefusalReason"]["enum"].remove("too_far")
    problems = breaking_changes(current, changed)
    assert any("enum value 'too_far' removed" in p for p in problems)


def test_removed_event_type_is_flagged(current: dict[str, Any]) -> None:
    """Dropping an event type from the union is a breaking change for phones that send it."""
    changed = copy.deepcopy(current)
    events = changed["components"]["schemas"]["EventBatch"]["properties"]["events"]["items"]
    del events["discriminator"]["mapping"]["position"]
    problems = breaking_changes(current, changed)
    assert any("'position' removed" in p for p in problems)


def test_new_required_request_field_is_flagged(current: dict[str, Any]) -> None:
    """A field the phone must now send breaks phones that do not know it."""
    changed = copy.deepcopy(current)
    schema = changed["components"]["schemas"]["KeySafeRevealRequest"]
    schema["properties"]["pin"] = {"type": "string"}
    schema.setdefault("required", []).append("pin")
    problems = breaking_changes(current, changed)
    assert any("'pin' is now required" in p for p in problems)


def test_response_field_no_longer_always_sent_is_flagged(current: dict[str, Any]) -> None:
    """A field the phone always got (the route version) becoming optional breaks it."""
    changed = copy.deepcopy(current)
    changed["components"]["schemas"]["MyRoute"]["required"].remove("version")
    problems = breaking_changes(current, changed)
    assert any("'version' is no longer always present" in p for p in problems)


def test_changed_type_is_flagged(current: dict[str, Any]) -> None:
    """A number that becomes a string breaks the phone's parser."""
    changed = copy.deepcopy(current)
    changed["components"]["schemas"]["Leg"]["properties"]["travel_seconds"]["type"] = "string"
    problems = breaking_changes(current, changed)
    assert any("travel_seconds: type" in p for p in problems)


def test_adding_optional_fields_and_endpoints_is_fine(current: dict[str, Any]) -> None:
    """New optional request fields, new response fields and new endpoints break nothing."""
    changed = copy.deepcopy(current)
    schemas = changed["components"]["schemas"]
    schemas["KeySafeRevealRequest"]["properties"]["hint"] = {"type": "string"}
    schemas["VisitStep"]["properties"]["parking"] = {"type": "string"}
    schemas["VisitStep"]["required"].append("parking")
    schemas["RefusalReason"]["enum"].append("team_paused")
    changed["paths"]["/mobile/v1/me/extra"] = {"get": {"responses": {}}}
    assert breaking_changes(current, changed) == []


def test_every_operation_has_a_stable_unique_id(current: dict[str, Any]) -> None:
    """Generated phone clients name their methods after operationId: unique, snake_case."""
    ids = [op["operationId"] for methods in current["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))
    assert all(i.isidentifier() and i.islower() for i in ids)
