"""The night bag (nachttas): shortages, what to take, counted down, and the restock list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from pydantic import TypeAdapter

from api.nightbag import (
    bag_status,
    full_bag,
    materials_to_take,
    optimizer_bag_now,
    remaining,
    restock_list,
    shortages,
)
from api.offline_events import derive_state
from mobile_contract.bag import BagTemplate
from mobile_contract.events import Event
from optimizer.model import Nurse

START = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
EVENT: TypeAdapter[Event] = TypeAdapter(Event)
TEMPLATE = BagTemplate.model_validate(
    {
        "team_id": "team-test",
        "version": 1,
        "items": [
            {"item_id": "gloves", "label": "Handschoenen / gloves", "minimum": 20, "full": 50},
            {"item_id": "needles", "label": "Naalden / needles", "minimum": 5, "full": 10},
            {"item_id": "bags", "label": "Katheterzak / catheter bag", "minimum": 2, "full": 4},
        ],
    }
)


def _event(n: int, minutes: int, **fields: object) -> Event:
    return EVENT.validate_python(
        {
            "event_id": str(UUID(int=n)),
            "device_time": START + timedelta(minutes=minutes),
            **fields,
        }
    )


def _night() -> list[Event]:
    """Shift start with a short count of needles and no catheter bags; two visits used stuff."""
    return [
        _event(
            1,
            0,
            type="shift_start",
            bag_check={
                "template_version": 1,
                "counted": [
                    {"item_id": "gloves", "quantity": 30},
                    {"item_id": "needles", "quantity": 4},
                ],
            },
        ),
        _event(
            2,
            30,
            type="visit_completed",
            visit_id="V001",
            tasks_done=[],
            materials_used=[
                {"item_id": "gloves", "quantity": 4},
                {"item_id": "needles", "quantity": 1},
            ],
        ),
        _event(
            3,
            60,
            type="visit_completed",
            visit_id="V002",
            tasks_done=[],
            materials_used=[{"item_id": "gloves", "quantity": 8}],
        ),
    ]


def test_shift_start_check_finds_shortages() -> None:
    """Needles 4 of minimum 5 and no catheter bags: two shortages with what is missing."""
    state = derive_state(_night()[:1])
    found = shortages(TEMPLATE, remaining(TEMPLATE, state))
    assert [(s.item_id, s.counted, s.missing) for s in found] == [("needles", 4, 1), ("bags", 0, 2)]


def test_used_materials_are_counted_down() -> None:
    """30 gloves less 4 and 8 used; 4 needles less 1."""
    assert remaining(TEMPLATE, derive_state(_night())) == {"gloves": 18, "needles": 3, "bags": 0}


def test_status_lists_what_fell_below_minimum_during_the_night() -> None:
    """Gloves dropped to 18 (minimum 20): now a shortage too."""
    status = bag_status(TEMPLATE, derive_state(_night()))
    assert status.checked_at == START
    assert [s.item_id for s in status.shortages] == ["gloves", "needles", "bags"]


def test_without_a_check_the_bag_counts_as_full() -> None:
    """No shift-start check yet: the full bag less what was used."""
    state = derive_state(_night()[1:])
    assert remaining(TEMPLATE, state) == {"gloves": 38, "needles": 9, "bags": 4}
    assert bag_status(TEMPLATE, state).checked_at is None


def test_recount_at_shift_end_replaces_the_arithmetic() -> None:
    """A count at shift end is what is in the bag."""
    end = _event(9, 400, type="shift_end", bag_counted=[{"item_id": "gloves", "quantity": 17}])
    assert remaining(TEMPLATE, derive_state([*_night(), end])) == {
        "gloves": 17,
        "needles": 0,
        "bags": 0,
    }


def test_restock_list_refills_to_full() -> None:
    """Each item short of full, with how many to add; full items are left out."""
    contents = {"gloves": 50, "needles": 3, "bags": 0}
    restock = restock_list(TEMPLATE, contents, generated_at=START)
    assert [(r.item_id, r.to_add, r.below_minimum) for r in restock.lines] == [
        ("needles", 7, True),
        ("bags", 4, True),
    ]


def test_materials_to_take_carry_labels() -> None:
    """Per visit, what to take, labelled; unknown items listed by id; zero quantities left out."""
    taken = materials_to_take(TEMPLATE, {"gloves": 2, "swabs": 1, "needles": 0})
    assert [(m.item_id, m.label, m.quantity) for m in taken] == [
        ("gloves", "Handschoenen / gloves", 2),
        ("swabs", "swabs", 1),
    ]


def test_full_bag_for_the_optimizer() -> None:
    """The optimizer's Nurse.bag is the template's full quantities."""
    assert full_bag(TEMPLATE) == {"gloves": 50, "needles": 10, "bags": 4}


def test_what_is_left_feeds_the_optimizer() -> None:
    """Full bag and what is left make a valid optimizer nurse; an over-count is capped."""
    left = optimizer_bag_now(TEMPLATE, {"gloves": 60, "needles": 3})
    assert left == {"gloves": 50, "needles": 3, "bags": 0}
    nurse = Nurse.model_validate(
        {
            "id": "N1",
            "shift": {"start": 0, "end": 8 * 3600},
            "start_location": 0,
            "end_location": 0,
            "bag": full_bag(TEMPLATE),
            "bag_now": left,
        }
    )
    assert nurse.contents_now("needles") == 3
