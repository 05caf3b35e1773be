"""Read-only commands (`report`, `keys rotate`) on a database that is missing or not set up:
one message naming the file or URL (no password) and what to do, exit 2, nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import main
from api.keysafe import generate_key


@pytest.fixture
def empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("NACHTROUTE_DATA_DIR", str(data))
    monkeypatch.delenv("NACHTROUTE_DATABASE_URL", raising=False)
    return data


def test_report_without_a_database_names_the_file_and_creates_none(
    empty_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A newcomer's `report` (no --database-url, nothing set up) got "cannot read the
    database (OperationalError)" and an empty nachtroute.sqlite left behind."""
    code = main(["report", "--month", "2026-11", "--organisation", "999"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(empty_data_dir / "nachtroute.sqlite") in err
    assert "no database" in err and "--database-url" in err
    assert "NACHTROUTE_DATABASE_URL" in err
    assert "Traceback" not in err
    assert list(empty_data_dir.iterdir()) == []


def test_report_points_at_the_demos_database_when_there_is_one(
    empty_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (empty_data_dir / "demo.sqlite").write_bytes(b"")
    assert main(["report", "--month", "2026-11"]) == 2
    assert f"sqlite:///{empty_data_dir / 'demo.sqlite'}" in capsys.readouterr().err
    assert sorted(p.name for p in empty_data_dir.iterdir()) == ["demo.sqlite"]


def test_report_on_a_database_that_is_not_set_up_says_so_and_changes_nothing(
    empty_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = empty_data_dir / "other.sqlite"
    empty.write_bytes(b"")
    code = main(["report", "--month", "2026-11", "--database-url", f"sqlite:///{empty}"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"--database-url: {empty} is not set up" in err
    assert empty.read_bytes() == b""
    assert sorted(p.name for p in empty_data_dir.iterdir()) == ["other.sqlite"]


def test_report_names_a_server_it_cannot_reach_without_its_password(
    empty_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql+psycopg://nurse:hunter2secret@127.0.0.1:1/nachtroute"
    assert main(["report", "--month", "2026-11", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert "127.0.0.1:1/nachtroute" in err and "cannot open" in err
    assert "hunter2secret" not in err


def test_keys_rotate_without_a_database_creates_none(
    empty_data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NACHTROUTE_KEYSAFE_KEYS", generate_key("k1"))
    monkeypatch.setenv("NACHTROUTE_KEYSAFE_ACTIVE_KEY", "k1")
    code = main(["keys", "rotate", "--to", "k1"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(empty_data_dir / "nachtroute.sqlite") in err and "Traceback" not in err
    assert list(empty_data_dir.iterdir()) == []


@pytest.mark.parametrize("month", ["0001-01", "1999-12", "2200-01", "2026-13", "2026-1", "x"])
def test_report_takes_the_months_the_partners_api_takes(
    empty_data_dir: Path, capsys: pytest.CaptureFixture[str], month: str
) -> None:
    """`report --month 0001-01` was read (the partners' API takes 2000-01 to 2199-12 only):
    one rule for both, exit 2 naming the option, before any database is looked for."""
    assert main(["report", "--month", month]) == 2
    err = capsys.readouterr().err
    assert "--month" in err and "2000-01 to 2199-12" in err
    assert "Traceback" not in err
    assert list(empty_data_dir.iterdir()) == []


def test_a_reports_csv_shows_a_formula_like_name_as_text() -> None:
    """An organisation named ``=HYPERLINK(...)`` (an admin sets names) was written to
    organisations.csv as is, and a spreadsheet opening the file ran it (CSV injection)."""
    from api.services.reports import MonthReport, OrganisationFigures

    names = ['=HYPERLINK("http://x.invalid")', "+1", "-1", "@SUM(A1)", "Thuiszorg (test)"]
    report = MonthReport(
        month="2026-11",
        nights=[],
        total_cost_eur=0.0,
        basis="visits",
        organisations=[
            OrganisationFigures(organisation_id=k, name=name) for k, name in enumerate(names)
        ],
    )
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(report.csv_files()["organisations.csv"])))
    assert [r["name"] for r in rows] == ["'" + n for n in names[:4]] + ["Thuiszorg (test)"]
