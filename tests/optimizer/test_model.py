"""The problem model refuses bad input with a message that names the field."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from optimizer.model import Problem

from .conftest import HOUR, line_problem, nurse, planned, unplanned


def _error_text(**kwargs: object) -> str:
    with pytest.raises(ValidationError) as caught:
        line_problem(**kwargs)  # type: ignore[arg-type]
    return str(caught.value)


def test_window_end_before_start_is_refused() -> None:
    """A window that closes before it opens names the window."""
    text = _error_text(nurses=[nurse()], visits=[planned("V1", 1, 2 * HOUR, HOUR)])
    assert "visits.0.window" in text
    assert "before its start" in text


def test_location_out_of_range_names_the_visit() -> None:
    """A location index past the matrix names visits[i].location."""
    text = _error_text(nurses=[nurse()], visits=[planned("V1", 99, 0, HOUR)])
    assert "visits[0].location: index 99 out of range" in text


def test_unknown_skill_is_refused() -> None:
    """A skill the region does not know is an input error, not a silent drop."""
    visit = planned("V1", 1, 0, HOUR, required_skills=["ivv"])
    text = _error_text(nurses=[nurse()], visits=[visit])
    assert "visits[0].required_skills: unknown skill 'ivv'" in text


def test_matrix_of_the_wrong_shape_is_refused() -> None:
    """A ragged matrix names the row."""
    problem = line_problem(nurses=[nurse()], visits=[])
    data = json.loads(problem.model_dump_json())
    data["travel"][0]["seconds"][3] = [0.0, 1.0]
    with pytest.raises(ValidationError) as caught:
        Problem.model_validate(data)
    assert "travel[0].seconds[3]: 2 columns, expected 31" in str(caught.value)


def test_nan_in_a_matrix_is_refused() -> None:
    """NaN travel times are refused at their position."""
    problem = line_problem(nurses=[nurse()], visits=[])
    text = problem.model_dump_json().replace("[0.0,60.0,", "[NaN,60.0,", 1)
    with pytest.raises(ValidationError) as caught:
        Problem.model_validate_json(text)
    assert "travel" in str(caught.value)


def test_unplanned_visit_needs_a_call_time() -> None:
    """An acute visit without a call time cannot have a target."""
    visit = unplanned("V1", 1, 0, "acute")
    del visit["call_time"]
    text = _error_text(nurses=[nurse()], visits=[visit])
    assert "visits[0].call_time: required for urgency 'acute'" in text


def test_duplicate_ids_and_unknown_pin() -> None:
    """Duplicate visit ids and pins to unknown nurses are both reported."""
    visits = [
        planned("V1", 1, 0, HOUR, pin={"nurse": "ghost"}),
        planned("V1", 2, 0, HOUR),
    ]
    text = _error_text(nurses=[nurse()], visits=visits)
    assert "visits[1].id: 'V1' is not unique" in text
    assert "visits[0].pin.nurse: unknown nurse 'ghost'" in text


def test_problem_round_trips_through_json() -> None:
    """What is written as JSON reads back equal."""
    problem = line_problem(
        nurses=[nurse(break_rule={"duration_seconds": 1800, "window": {"start": 0, "end": HOUR}})],
        visits=[planned("V1", 1, 0, HOUR), unplanned("V2", 2, 600, "urgent")],
    )
    assert Problem.model_validate_json(problem.model_dump_json()) == problem


def test_night_needs_a_utc_offset() -> None:
    """A naive datetime would be ambiguous across the DST change: refused."""
    problem = line_problem(nurses=[nurse()], visits=[])
    data = json.loads(problem.model_dump_json())
    data["night"]["start"] = "2026-11-23T23:00:00"
    with pytest.raises(ValidationError) as caught:
        Problem.model_validate(data)
    assert "night.start" in str(caught.value)
