"""The demo is usable by a partner: Porto's seeded clients can be read, a client made in the
region can be planned, one outside it is refused naming the field; one development-key
warning per process, not one per seeded user."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import totp_vault
from api.db.engine import make_engine, make_session_factory
from api.main import create_app
from api.repositories import accounts, nights
from api.seed import PORTO_CENTRE, seed_region, seed_requests
from api.services.planning import replan
from tests.api.conftest import AMSTERDAM, NIGHT, FakeClock
from tests.api.conftest import test_settings as settings_for


def test_a_partner_uses_the_porto_demo_region(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(db_url, tmp_path)
    now = datetime(2026, 11, 23, 21, 0, tzinfo=AMSTERDAM)
    monkeypatch.setattr(totp_vault, "_warned_development_key", False)
    caplog.set_level(logging.WARNING, logger="nachtroute.totp")
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        seeded = seed_region(
            session, settings, night_date=NIGHT, organisations=1, centre=PORTO_CENTRE
        )
        seed_requests(session, seeded, night_date=NIGHT, now=now, visits=6, centre=PORTO_CENTRE)
        region = accounts.get_region(session)
        night = nights.get_or_create_night(session, region, NIGHT)
        session.commit()
        replan(session, region, night, reason="demo", now=now, time_limit=0.5, publish=True)
    engine.dispose()
    warnings = [r for r in caplog.records if "development key" in r.getMessage()]
    assert len(warnings) == 1  # four users with a second factor were seeded

    clock = FakeClock(now)
    with TestClient(create_app(settings, clock=clock)) as client:
        key = {"X-API-Key": seeded.api_keys[seeded.home_care[0]]}
        listed = client.get("/partner/v1/clients", headers=key)
        assert listed.status_code == 200, listed.text
        assert len(listed.json()) == 6
        one = client.get(f"/partner/v1/clients/{listed.json()[0]['id']}", headers=key)
        assert one.status_code == 200 and one.json()["lat"] == pytest.approx(41.15, abs=0.1)

        body = {
            "display_name": "Demo client Porto",
            "address": "Rua de Teste 1, Porto (fictional)",
            "lat": PORTO_CENTRE[0] + 0.01,
            "lon": PORTO_CENTRE[1] + 0.01,
        }
        made = client.post("/partner/v1/clients", json=body, headers=key)
        assert made.status_code == 201, made.text
        assenaar = client.post(
            "/partner/v1/clients", json={**body, "lat": 52.99, "lon": 6.56}, headers=key
        )
        assert assenaar.status_code == 422  # Assen is not in this region
        assert {e["field"] for e in assenaar.json()["errors"]} == {"body.lat", "body.lon"}

        clock.set(3, 12)
        alarm = client.post(
            "/partner/v1/visit-requests",
            json={
                "kind": "unplanned",
                "client_id": made.json()["id"],
                "care_task": "fall",
                "service_minutes": 20,
                "urgency": "acute",
            },
            headers={**key, "Idempotency-Key": "porto-alarm"},
        )
        assert alarm.status_code == 201, alarm.text
        assert alarm.json()["visits"][0]["planned"] is True, alarm.json()
