"""The command line: clear messages and exit code 2 for bad input, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "assen-night.json"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_solve_prints_a_table_and_writes_the_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`solve` prints each nurse's route and writes a plan that reads back."""
    out_file = tmp_path / "plan.json"
    code, out, _ = _run(capsys, "solve", str(EXAMPLE), "--time-limit", "1", "--out", str(out_file))
    assert code == 0
    assert "N1:" in out and "Planned" in out
    plan = json.loads(out_file.read_text())
    assert {r["nurse_id"] for r in plan["routes"]} == {"N1", "N2", "N3"}


def test_missing_field_names_the_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A visit without service_seconds: exit 2 and the field path, no traceback."""
    data = json.loads(EXAMPLE.read_text())
    del data["visits"][3]["service_seconds"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    code, _, err = _run(capsys, "solve", str(bad))
    assert code == 2
    assert "visits[3].service_seconds: Field required" in err
    assert "Traceback" not in err


def test_window_end_before_start(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A window ending before it starts is named with its path."""
    data = json.loads(EXAMPLE.read_text())
    visit = next(v for v in data["visits"] if "window" in v)
    visit["window"] = {"start": 7200, "end": 3600}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    code, _, err = _run(capsys, "solve", str(bad))
    assert code == 2
    assert "window: window end 3600 is before its start 7200" in err


def test_not_json_and_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Garbage and absent files get one line each."""
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    code, _, err = _run(capsys, "solve", str(junk))
    assert code == 2 and "junk.json: invalid Problem" in err
    code, _, err = _run(capsys, "solve", str(tmp_path / "absent.json"))
    assert code == 2 and "no such file" in err


def test_bad_time_limit_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A negative or NaN time limit is refused by the argument parser (exit 2)."""
    for value in ("-1", "nan", "soon"):
        assert main(["solve", str(EXAMPLE), "--time-limit", value]) == 2
    assert "time-limit" in capsys.readouterr().err


def test_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """`schema problem` prints a JSON schema naming the nurses and visits."""
    code, out, _ = _run(capsys, "schema", "problem")
    schema = json.loads(out)
    assert code == 0
    assert {"nurses", "visits", "travel", "night"} <= set(schema["properties"])


def test_evaluate_and_quote(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Hand routes are evaluated (exit 1 when rules break); a quote ranks nurses."""
    plan_file = tmp_path / "plan.json"
    main(["solve", str(EXAMPLE), "--time-limit", "0.5", "--out", str(plan_file)])
    capsys.readouterr()
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({"N1": ["V0001", "V0002"], "N2": [], "N3": []}))
    code, out, _ = _run(capsys, "evaluate", str(EXAMPLE), str(routes))
    assert code in (0, 1)
    assert "N1: 2 visits" in out
    routes.write_text(json.dumps({"N1": ["NOPE"]}))
    code, _, err = _run(capsys, "evaluate", str(EXAMPLE), str(routes))
    assert code == 2 and "routes.N1[0]: unknown visit 'NOPE'" in err
    visit = tmp_path / "visit.json"
    visit.write_text(
        json.dumps(
            {
                "id": "CALL",
                "client_ref": "ref",
                "location": 3,
                "service_seconds": 900,
                "urgency": "acute",
                "call_time": 7200,
            }
        )
    )
    code, out, _ = _run(capsys, "quote", str(EXAMPLE), str(plan_file), str(visit))
    assert code == 0
    assert out.splitlines()[0].startswith("ok")


def test_bench_nights_small(capsys: pytest.CaptureFixture[str]) -> None:
    """`bench nights` on a tiny size reports every figure, all plans checked."""
    code, out, _ = _run(capsys, "bench", "nights", "--size", "2x8", "--long-limit", "0.3", "--json")
    assert code == 0
    row = json.loads(out.splitlines()[0])
    assert row["nurses"] == 2 and row["visits"] == 8
    assert row["first_plan"]["checker_violations"] == 0
    assert row["after_0.3s"]["checker_violations"] == 0
    assert row["gls_after_0.3s"]["checker_violations"] == 0  # the baseline of the same run
    assert row["replan"]["checker_violations"] == 0
    assert row["quote_ms_median"] > 0


def test_bench_nights_bad_size(capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed size names the option."""
    code, _, err = _run(capsys, "bench", "nights", "--size", "ten-by-200")
    assert code == 2 and "--size: expected NURSESxVISITS" in err
