"""The reveal response: the code only in its JSON body, never in repr or error texts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mobile_contract.keysafe import KeySafeRevealResponse

FIELDS = {
    "visit_id": "V001",
    "reveal_id": "00000000-0000-4000-9000-000000000001",
    "forget_at": "2026-11-23T23:00:00Z",
}


def test_code_only_in_the_json_body() -> None:
    """repr/str/model_dump show asterisks; the JSON body carries the code."""
    response = KeySafeRevealResponse(code="FAKE0000", **FIELDS)  # type: ignore[arg-type]
    assert "FAKE0000" not in repr(response) + str(response) + str(response.model_dump())
    assert '"code":"FAKE0000"' in response.model_dump_json()


def test_validation_error_does_not_echo_the_code() -> None:
    """A code that breaks the length rule is refused without its value in the error text."""
    with pytest.raises(ValidationError) as caught:
        KeySafeRevealResponse(code="FAKE0000FAKE0000FAKE", **FIELDS)  # type: ignore[arg-type]
    assert "FAKE" not in str(caught.value)


def test_schema_is_a_plain_string_for_the_phone() -> None:
    """The phone's generated client sees a plain string, not a write-only password."""
    code = KeySafeRevealResponse.model_json_schema(mode="serialization")["properties"]["code"]
    assert code["type"] == "string" and "writeOnly" not in code and "format" not in code
