"""A phone's counts are numbers: JSON ``true`` is no 1 (review of S25-05).

S25-05 made the service's own request schemas refuse ``true``/``false`` where a number is
asked; the phone contract read them as 1 and 0 still: a ``delayed`` event with
``"delay_minutes": true`` held the nurse up one minute, a restock of ``"quantity": true``
counted one item. Each such event is now rejected alone as ``invalid``, naming the field.
"""

from __future__ import annotations

import json

import pytest

from mobile_contract.events import parse_batch
from mobile_contract.route import ItemQuantity

AT = "2026-12-01T23:00:00+01:00"


@pytest.mark.parametrize("value", [True, False])
def test_a_delay_of_true_minutes_is_rejected(value: bool) -> None:
    event = {
        "type": "delayed",
        "event_id": "00000000-0000-4000-8000-000000000001",
        "device_time": AT,
        "delay_minutes": value,
    }
    parsed = parse_batch(json.dumps({"sent_at": AT, "events": [event]}))
    assert parsed.events == []
    (rejected,) = parsed.rejected
    assert rejected.reason == "invalid" and "delay_minutes" in rejected.message


def test_a_quantity_of_true_is_rejected() -> None:
    with pytest.raises(ValueError, match="true or false"):
        ItemQuantity.model_validate({"item_id": "gloves", "quantity": True})
    assert ItemQuantity.model_validate({"item_id": "gloves", "quantity": 1}).quantity == 1
