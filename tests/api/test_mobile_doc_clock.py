"""docs/mobile.md's recipe for a service on a simulated clock, run as written: the test
world's clock is a week behind the real one, as a demo started with NACHTROUTE_CLOCK is."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient

from api.seed import DEMO_NURSE_TOTP_SECRET
from mobile_contract.dpop_client import PhoneKey
from tests.api.conftest import PASSWORD, World
from tests.api.phone_helpers import phone_body

DOC = Path(__file__).resolve().parents[2] / "docs" / "mobile.md"


def _recipe() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("### Against a service on a simulated clock")
    found = re.search(r"```python\n(.*?)\n```", text[start:], re.DOTALL)
    assert found is not None
    return found.group(1)


def test_the_real_time_is_refused_as_the_doc_says(world: World) -> None:
    """Without the recipe: the proof and the code are for the real time, a week later."""
    real = PhoneKey.generate()  # the phone's (real) clock
    on_service_time = world.new_key()
    body = {"username": "nurse-n1", "password": PASSWORD}
    url = "http://testserver/auth/token"
    code_now = pyotp.TOTP(DEMO_NURSE_TOTP_SECRET).now()
    stale = world.client.post(
        "/auth/token", json={**body, "totp_code": code_now}, headers=real.headers("POST", url)
    )
    assert (stale.status_code, stale.json()["code"]) == (400, "proof_stale"), stale.text
    wrong_step = world.client.post(
        "/auth/token",
        json={**body, "totp_code": code_now},
        headers=on_service_time.headers("POST", url),
    )
    assert wrong_step.status_code == 401, wrong_step.text


def test_the_recipe_signs_in_and_registers_a_phone_on_the_services_clock(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = world.client.app
    # The recipe's module-level httpx calls and its Client reach this app, not the network.
    monkeypatch.setattr(httpx, "get", world.client.get)
    monkeypatch.setattr(httpx, "post", world.client.post)

    def client(*, base_url: str, auth: httpx.Auth) -> TestClient:
        made = TestClient(app, base_url=base_url)
        made.auth = auth
        return made

    monkeypatch.setattr(httpx, "Client", client)
    names: dict[str, Any] = {"totp_secret": DEMO_NURSE_TOTP_SECRET, "password": PASSWORD}
    exec(compile(_recipe(), str(DOC), "exec"), names)  # our own doc's code

    assert names["login"].status_code == 200, names["login"].text
    assert names["login"].json()["second_factor"] is True
    phone = names["phone"]
    registered = phone.post("/mobile/v1/devices", json=phone_body(names["key"]))
    assert registered.status_code == 201, registered.text
