"""The geo commands of `nachtroute` (api/cli/geo_commands.py): output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import road_points

from api.cli import main
from geo.network import Network


@pytest.fixture
def env(data_dir: Path, porto: Network, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The session's data directory, with Porto imported, as NACHTROUTE_DATA_DIR."""
    monkeypatch.setenv("NACHTROUTE_DATA_DIR", str(data_dir))
    return data_dir


def test_import_fictional_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`geo import` reports the network and progress goes to stderr."""
    monkeypatch.setenv("NACHTROUTE_DATA_DIR", str(tmp_path))
    source = Path(__file__).parent / "data" / "fictional_addresses.osm"
    assert main(["geo", "import", str(source), "--name", "testdorp"]) == 0
    out, err = capsys.readouterr()
    assert "testdorp" in out
    assert "5 addresses" in out
    assert "reading" in err
    assert main(["geo", "locate", "--network", "testdorp", "9999 ZZ 12"]) == 0
    assert capsys.readouterr().out.strip() == "53.0002000,6.5010000"


def test_import_missing_file_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing extract is one message naming it, exit 2."""
    monkeypatch.setenv("NACHTROUTE_DATA_DIR", str(tmp_path))
    assert main(["geo", "import", str(tmp_path / "nope.pbf"), "--name", "x"]) == 2
    assert "nope.pbf" in capsys.readouterr().err


def test_locate_unknown_address_exits_2(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An address not in the index is named, exit 2, no traceback."""
    assert main(["geo", "locate", "--network", "porto", "9401 AB 12"]) == 2
    err = capsys.readouterr().err
    assert "'9401 AB 12'" in err
    assert "Traceback" not in err


def test_matrix_csv_and_npy(
    env: Path, porto: Network, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`geo matrix` writes seconds, row = from, to CSV (stdout or file) and .npy."""
    points = tmp_path / "points.csv"
    rows = "\n".join(f"{lat},{lon}" for lat, lon in road_points(porto, 4))
    points.write_text(f"lat,lon\n{rows}\n")
    assert main(["geo", "matrix", "--network", "porto", "--points", str(points)]) == 0
    printed = np.loadtxt(capsys.readouterr().out.splitlines(), delimiter=",")
    assert printed.shape == (4, 4)
    out = tmp_path / "m.npy"
    assert (
        main(
            [
                "geo",
                "matrix",
                "--network",
                "porto",
                "--points",
                str(points),
                "--profile",
                "bike",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert np.load(out).shape == (4, 4)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("x,y\n1,2\n", "columns 'lat' and 'lon'"),
        ("lat,lon\n41.1,abc\n", "line 2"),
        ("lat,lon\n41.15,-8.75\n", "line 2 (41.150000, -8.750000)"),
    ],
)
def test_matrix_bad_points_exit_2(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    """Bad point files are refused with the file and line named."""
    points = tmp_path / "points.csv"
    points.write_text(content)
    assert main(["geo", "matrix", "--network", "porto", "--points", str(points)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "points.csv" in err


def test_plot_bad_plan_exit_2(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan file that is not a plan names the file and field."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"routes": []}))
    problem = tmp_path / "problem.json"
    problem.write_text("{}")
    assert (
        main(["plot", str(plan), "--problem", str(problem), "--out", str(tmp_path / "n.png")]) == 2
    )
    assert "plan.json" in capsys.readouterr().err


def test_plot_draws_plan_and_writes_geojson(
    env: Path, porto: Network, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plot` draws a plan over the network and writes its legs as GeoJSON."""
    from datetime import datetime

    import geopandas as gpd
    from test_geometry import _plan

    from geo import estimated_matrix
    from optimizer.model import Location, Night, Nurse, Problem, TimeWindow, Visit

    locations = [Location(lat=lat, lon=lon) for lat, lon in road_points(porto, 5, seed=3)]
    shift = TimeWindow(start=0, end=8 * 3600)
    problem = Problem(
        night=Night(
            start=datetime.fromisoformat("2026-11-23T23:00:00+01:00"),
            end=datetime.fromisoformat("2026-11-24T07:00:00+01:00"),
        ),
        locations=locations,
        travel=[estimated_matrix(locations)],
        nurses=[
            Nurse(id="anna", shift=shift, start_location=0, end_location=0),
            Nurse(id="bram", shift=shift, start_location=3, end_location=3),
        ],
        visits=[
            Visit(
                id="v1",
                client_ref="c1",
                location=1,
                service_seconds=300,
                urgency="acute",
                call_time=0,
            ),
            Visit(
                id="v2",
                client_ref="c2",
                location=2,
                service_seconds=300,
                window=TimeWindow(start=0, end=7200),
            ),
            Visit(
                id="v4",
                client_ref="c4",
                location=4,
                service_seconds=300,
                window=TimeWindow(start=0, end=7200),
            ),
        ],
    )
    plan_path, problem_path = tmp_path / "plan.json", tmp_path / "problem.json"
    plan_path.write_text(_plan().model_dump_json())
    problem_path.write_text(problem.model_dump_json())
    out, legs = tmp_path / "night.png", tmp_path / "legs.geojson"
    assert (
        main(
            [
                "plot",
                str(plan_path),
                "--problem",
                str(problem_path),
                "--network",
                "porto",
                "--out",
                str(out),
                "--geojson",
                str(legs),
            ]
        )
        == 0
    )
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert len(gpd.read_file(legs)) == 5
    assert "drew 5 legs" in capsys.readouterr().err
