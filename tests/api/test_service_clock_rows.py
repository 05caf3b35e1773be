"""Every moment the service records comes from its clock (`api.core.clock`), never from the
machine's: a night tried on the simulated clock records its own times, through HTTP.

Before: a re-optimise job's ``created_at``/``finished_at`` (and any row time left to a
column default) were the machine's time, days away from the night being run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db.models import Base
from tests.api.conftest import AMSTERDAM, NIGHT, World
from tests.api.conftest import new_client as register_client
from tests.api.invariants import visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import published_night, register_phone
from tests.api.test_planner import PLAN

#: The columns that say when the service did something.
STAMPS = ("created_at", "updated_at", "registered_at", "set_at", "received_at", "at", "finished_at")


def _stamps(session: Session) -> dict[tuple[str, tuple[Any, ...], str], datetime]:
    """(table, primary key, column) -> recorded moment, for every stamp column."""
    found = {}
    for table in Base.metadata.sorted_tables:
        names = [c.name for c in table.columns if c.name in STAMPS]
        if not names:
            continue
        key = list(table.primary_key.columns)
        for row in session.execute(select(*key, *(table.c[n] for n in names))):
            values = tuple(row)
            for name, value in zip(names, values[len(key) :], strict=True):
                if value is not None:
                    found[(table.name, values[: len(key)], name)] = value
    return found


def _in_the_night(moment: datetime) -> bool:
    begin = datetime(NIGHT.year, NIGHT.month, NIGHT.day, 12, tzinfo=AMSTERDAM)
    return begin <= moment <= begin + timedelta(days=1)


def test_rows_record_the_service_clock(world: World) -> None:
    """A night run at 03:10 simulated (a re-optimise job, a partner's acute call, a phone,
    client reads): every row time written meanwhile is inside that night, the job's times
    as the API shows them included."""
    with world.sessions()() as session:
        before = _stamps(session)
    published_night(world, visits=6)
    world.clock.set(3, 10)
    planner = world.token("planner")
    version = world.client.get(PLAN, headers=planner).json()["version"]
    job = world.client.post(
        f"{PLAN}/reoptimise",
        json={"time_limit_seconds": 1},
        headers={**planner, "If-Match": f'"{version}"'},
    )
    assert job.status_code == 202, job.text
    world.client.app.state.job_runner.wait(job.json()["id"], timeout=120)
    shown = world.client.get(f"/jobs/{job.json()['id']}", headers=planner).json()
    assert shown["status"] == "succeeded", shown
    for name in ("created_at", "finished_at"):
        moment = datetime.fromisoformat(shown[name])
        assert abs(moment - world.clock()) < timedelta(minutes=1), (name, shown[name])
    org = world.seeded.home_care[0]
    client_id = register_client(world, org, 61)
    call = world.client.post(
        "/partner/v1/visit-requests",
        json={
            "kind": "unplanned",
            "client_id": client_id,
            "care_task": "fall",
            "service_minutes": 20,
            "urgency": "acute",
        },
        headers=world.key(org),
    )
    assert call.status_code == 201, call.text
    register_phone(world)
    with world.sessions()() as session:
        after = _stamps(session)
    written = {k: v for k, v in after.items() if before.get(k) != v}
    assert any(table == "jobs" for table, _key, _name in written)
    outside = {
        f"{t}.{n}": v.isoformat() for (t, _k, n), v in written.items() if not _in_the_night(v)
    }
    assert not outside, f"recorded from the machine's clock, not the service's: {outside}"
