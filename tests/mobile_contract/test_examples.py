"""The example payloads for the phone's developers validate against the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from mobile_contract._base import ApiError
from mobile_contract.bag import BagStatus, BagTemplate, RestockList
from mobile_contract.devices import DeviceRegistration, DeviceRegistrationRequest
from mobile_contract.endpoints import ENDPOINTS
from mobile_contract.events import BatchResult, EventBatch, EventType
from mobile_contract.keysafe import KeySafeRefusal, KeySafeRevealRequest, KeySafeRevealResponse
from mobile_contract.route import MyRoute, RouteChangedNotice

EXAMPLES = Path(__file__).parents[2] / "mobile_contract" / "examples"

MODELS: dict[str, type[BaseModel]] = {
    "api_error": ApiError,
    "bag_status": BagStatus,
    "bag_template": BagTemplate,
    "batch_result": BatchResult,
    "device_registration": DeviceRegistration,
    "device_registration_request": DeviceRegistrationRequest,
    "event_batch": EventBatch,
    "keysafe_refusal": KeySafeRefusal,
    "keysafe_reveal_request": KeySafeRevealRequest,
    "keysafe_reveal_response": KeySafeRevealResponse,
    "my_route": MyRoute,
    "proof_refusal": ApiError,
    "restock_list": RestockList,
    "route_changed_notice": RouteChangedNotice,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_example_validates_and_round_trips(name: str) -> None:
    """Each example is valid, and serializing it again gives the same JSON."""
    text = (EXAMPLES / f"{name}.json").read_text(encoding="utf-8")
    model = MODELS[name].model_validate_json(text)
    assert json.loads(model.model_dump_json()) == json.loads(text)


def test_every_example_file_is_checked() -> None:
    """No example file escapes the check above."""
    assert {p.stem for p in EXAMPLES.glob("*.json")} == set(MODELS)


def test_every_endpoint_body_has_an_example() -> None:
    """Each request and response body of v1 has an example beside it."""
    bodies = {e.request for e in ENDPOINTS} | {m for e in ENDPOINTS for m in e.responses.values()}
    assert {m for m in bodies if m is not None} <= set(MODELS.values())


def test_event_batch_example_has_every_event_type() -> None:
    """The batch example shows the phone developers each event type once at least."""
    batch = EventBatch.model_validate_json((EXAMPLES / "event_batch.json").read_text())
    assert {e.type for e in batch.events} == {t.value for t in EventType}


def test_route_example_never_carries_a_code() -> None:
    """The route says whether a key safe is there, never its code."""
    text = (EXAMPLES / "my_route.json").read_text()
    assert "key_safe_present" in text
    assert '"code"' not in text
    assert "code" not in MyRoute.model_json_schema()["$defs"]["Access"]["properties"]


def test_the_proof_refusal_example_names_a_contract_reason() -> None:
    """The 401 example's code is one of the proof refusal reasons the phone handles."""
    from mobile_contract.proofs import ProofRefusalReason

    refusal = ApiError.model_validate_json((EXAMPLES / "proof_refusal.json").read_text())
    assert refusal.code in {reason.value for reason in ProofRefusalReason}
