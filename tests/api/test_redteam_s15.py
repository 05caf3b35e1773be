"""Red-team findings of session 15 against the merged work of issues 10, 12, 13 and 14,
through HTTP on the simulated clock with fictional data.

Linked requests (issue 13) promise "the night plans both or neither, and says why": a link
the service accepts must be a rule on every night the later care is given, or be refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.conftest import NIGHT, World, new_client, planned_body
from tests.api.test_planner import PLAN, reoptimise

REQUESTS = "/partner/v1/visit-requests"


def _submit(world: World, org: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = world.client.post(REQUESTS, json=body, headers=world.key(org))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _link(request_id: int) -> dict[str, Any]:
    return {"request_id": request_id, "min_minutes": 60, "max_minutes": 90}


def test_a_link_to_care_on_another_night_is_refused_not_silently_dropped(world: World) -> None:
    """Found: a check "60-90 min after" a request given only tonight, submitted for tomorrow
    night (or recurring past tonight), was accepted (201) and shown back with its link, but
    on those nights the injection has no visit, so the planning dropped the rule without a
    word: the check was planned alone. Now refused naming ``after.request_id``."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    tonight_only = _submit(world, org, planned_body(client_id))
    tomorrow = (NIGHT + timedelta(days=1)).isoformat()
    for body in (
        {**planned_body(client_id, after=_link(tonight_only["id"])), "night": tomorrow},
        planned_body(client_id, after=_link(tonight_only["id"]), recurrence={"until": tomorrow}),
    ):
        refused = world.client.post(REQUESTS, json=body, headers=world.key(org))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == "body.after.request_id"
    listed = world.client.get(REQUESTS, headers=world.key(org)).json()
    assert [r["id"] for r in listed] == [tonight_only["id"]]
    # Care given every night links to care given every night: accepted.
    every = _submit(world, org, planned_body(client_id, recurrence={"until": tomorrow}))
    _submit(
        world,
        org,
        planned_body(
            client_id,
            start="23:30",
            end="03:00",
            after=_link(every["id"]),
            recurrence={"until": tomorrow},
        ),
    )


def test_amending_nights_cannot_leave_a_link_without_its_first_care(world: World) -> None:
    """The same kind through PATCH: shortening the first care's recurrence (or lengthening
    the check's) would leave nights where the check has no first care to follow."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    last = (NIGHT + timedelta(days=2)).isoformat()
    first = _submit(world, org, planned_body(client_id, recurrence={"until": last}))
    check = _submit(
        world,
        org,
        planned_body(
            client_id,
            start="23:30",
            end="03:00",
            after=_link(first["id"]),
            recurrence={"until": last},
        ),
    )
    for request_id, until in (
        (first["id"], NIGHT.isoformat()),
        (check["id"], (NIGHT + timedelta(days=3)).isoformat()),
    ):
        refused = world.client.patch(
            f"{REQUESTS}/{request_id}", json={"recurrence_until": until}, headers=world.key(org)
        )
        assert refused.status_code == 422, refused.text
        assert "recurrence_until" in refused.text
    for request in (first, check):
        read = world.client.get(f"{REQUESTS}/{request['id']}", headers=world.key(org)).json()
        assert read["recurrence"]["until"] == last


def test_cancelling_the_first_care_does_not_plan_the_check_alone(world: World) -> None:
    """Found: cancelling the injection left its "60-90 min after" check active and the next
    plan placed the check on its own, with no link and no reason. Now the cancel is refused
    (409) while an active request follows it, naming the follower; cancelling the check
    first, then the injection, works."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    first = _submit(world, org, planned_body(client_id, start="23:30", end="00:30"))
    check = _submit(
        world, org, planned_body(client_id, start="23:30", end="03:00", after=_link(first["id"]))
    )
    refused = world.client.post(f"{REQUESTS}/{first['id']}/cancel", headers=world.key(org))
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert str(check["id"]) in refused.json()["detail"]
    reoptimise(world)
    night = world.client.get(PLAN, headers=world.token("planner")).json()
    planned = {v["request_id"] for v in night["visits"] if v["status"] == "open"}
    assert {first["id"], check["id"]} <= planned
    for request_id in (check["id"], first["id"]):
        done = world.client.post(f"{REQUESTS}/{request_id}/cancel", headers=world.key(org))
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "cancelled"


def test_an_urgent_call_taken_for_a_nurse_without_its_skill_is_refused(world: World) -> None:
    """Found (issue 12, the board's urgent call): the planner took an acute call needing a
    catheter skill for the one nurse without it (the quote did not even offer her); the
    service answered 201, pinned the call to her, and the re-plan left it unplanned as
    ``no_capacity`` although two colleagues could go. Now 422 naming ``nurse``, nothing
    stored; with a nurse who has the skill it is taken and planned."""
    from tests.api.phone_helpers import published_night

    published_night(world, visits=6)
    world.clock.set(1, 0)
    org = world.seeded.home_care[0]
    client_id = new_client(world, org, 7)
    nurses = world.client.get("/nurses", headers=world.token("planner")).json()
    without = next(n["code"] for n in nurses if "catheter" not in n["skills"])
    able = next(n["code"] for n in nurses if "catheter" in n["skills"])
    board = f"/nights/{NIGHT.isoformat()}/board/urgent-calls"
    call = {"client_id": client_id, "care_task": "medication", "required_skills": ["catheter"]}
    quote = world.client.post(f"{board}/quote", json=call, headers=world.token("planner"))
    assert without not in {o["nurse_id"] for o in quote.json()["options"] if o["feasible"]}
    version = world.client.get(PLAN, headers=world.token("planner")).json()["version"]
    planner = {**world.token("planner"), "If-Match": f'"{version}"'}
    refused = world.client.post(board, json={**call, "nurse": without}, headers=planner)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "nurse" in refused.json()["detail"]
    assert world.client.get(PLAN, headers=world.token("planner")).json()["version"] == version
    taken = world.client.post(board, json={**call, "nurse": able}, headers=planner)
    assert taken.status_code == 201, taken.text
    night = world.client.get(PLAN, headers=world.token("planner")).json()
    assert len([v for v in night["visits"] if v["client_id"] == client_id]) == 1
    routed = {
        step["visit_id"]: route["nurse_id"]
        for route in night["plan"]["routes"]
        for step in route["steps"]
        if step["type"] == "visit"
    }
    assert routed.get(taken.json()["visit_id"]) == able


def test_responses_carrying_a_secret_are_never_stored(world: World) -> None:
    """Found (issue 14's "secrets"): the sign-in's access token (RFC 6749 section 5.1 asks
    for ``Cache-Control: no-store``) and a new partner API key, shown once, came back
    without it, so a browser or proxy cache could keep a credential that opens client data
    (the TOTP enrolment and the key-safe reveal already sent it)."""
    from tests.api.conftest import PASSWORD

    signed_in = world.client.post("/auth/token", json={"username": "planner", "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.headers.get("Cache-Control") == "no-store"
    org = world.seeded.home_care[0]
    made = world.client.post(f"/admin/organisations/{org}/api-keys", headers=world.token("admin"))
    assert made.status_code == 201, made.text
    assert made.headers.get("Cache-Control") == "no-store"


def test_a_phone_registration_without_second_factor_is_access_logged(world: World) -> None:
    """Found (issue 14, refusals missing from the access log): someone with a nurse's
    password but not her second factor who tries to register a phone as her was refused
    (401 ``second_factor_required``) without a trace in the access log, unlike the same
    refusal at a reveal. Now the refusal is a row naming who and why, with no secret."""
    from sqlalchemy import select

    from api.db.models import AccessLogEntry
    from tests.api.phone_helpers import phone_body

    key = world.new_key()
    password_only = world.token("nurse-n1", second_factor=False, key=key)
    token = password_only["Authorization"].partition(" ")[2]
    refused = world.client.post("/mobile/v1/devices", json=phone_body(key), headers=password_only)
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "second_factor_required"
    with world.sessions()() as session:
        row = session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id.desc())).first()
        assert row is not None
        assert row.purpose.split()[1:3] == ["refused", "second_factor_required"]
        assert row.user_id == world.seeded.users["nurse-n1"][0]
        assert token not in row.purpose and key.thumbprint() not in row.purpose


def test_a_gap_longer_than_the_night_is_refused_not_planned_out(world: World) -> None:
    """Found: a check linked "600-700 min after" (the schema allows up to 720) was accepted,
    though both visits fall in one 480-minute night; the link could never be kept and the
    planning left the partner's first care out with it. Now refused naming
    ``after.min_minutes``; a gap the night can hold is still accepted."""
    org = world.seeded.home_care[0]
    client_id = new_client(world, org)
    first = _submit(world, org, planned_body(client_id))
    too_long = {"request_id": first["id"], "min_minutes": 600, "max_minutes": 700}
    refused = world.client.post(
        REQUESTS, json=planned_body(client_id, after=too_long), headers=world.key(org)
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "body.after.min_minutes"
    listed = world.client.get(REQUESTS, headers=world.key(org)).json()
    assert [r["id"] for r in listed] == [first["id"]]
    _submit(
        world, org, planned_body(client_id, start="23:30", end="03:00", after=_link(first["id"]))
    )
