"""Every route x every role -> the expected answer, generated from the app's route table.

A route missing from EXPECTED fails the first test, so no new route can escape the matrix.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from api.core.roles import Role
from api.main import create_app
from tests.api.conftest import World
from tests.api.phone_helpers import register_phone

PUBLIC = "public"
ALL = frozenset(Role)
EXPECTED: dict[str, frozenset[Role] | str] = {
    "read_health": PUBLIC,
    "planner_page": PUBLIC,
    "planner_asset": PUBLIC,
    "planner_vendor": PUBLIC,
    "create_token": PUBLIC,
    "enrol_totp": PUBLIC,
    "read_me": ALL,
    "create_organisation": frozenset({Role.ADMIN}),
    "list_organisations": frozenset({Role.ADMIN}),
    "create_api_key": frozenset({Role.ADMIN}),
    "list_api_keys": frozenset({Role.ADMIN}),
    "revoke_api_key": frozenset({Role.ADMIN}),
    "create_user": frozenset({Role.ADMIN}),
    "list_users": frozenset({Role.ADMIN}),
    "deactivate_user": frozenset({Role.ADMIN}),
    "reactivate_user": frozenset({Role.ADMIN}),
    "create_nurse": frozenset({Role.ADMIN}),
    "list_nurses": frozenset({Role.ADMIN, Role.PLANNER}),
    "set_shift": frozenset({Role.ADMIN, Role.PLANNER}),
    "create_client": frozenset({Role.PARTNER}),
    "list_clients": frozenset({Role.PARTNER}),
    "read_client": frozenset({Role.PARTNER}),
    "update_client": frozenset({Role.PARTNER}),
    "read_client_for_planner": frozenset({Role.PLANNER}),
    "submit_visit_request": frozenset({Role.PARTNER}),
    "list_visit_requests": frozenset({Role.PARTNER}),
    "read_visit_request": frozenset({Role.PARTNER}),
    "amend_visit_request": frozenset({Role.PARTNER}),
    "cancel_visit_request": frozenset({Role.PARTNER}),
    "read_night_plan": frozenset({Role.PLANNER}),
    "list_plan_versions": frozenset({Role.PLANNER}),
    "read_plan_version": frozenset({Role.PLANNER}),
    "reoptimise_night": frozenset({Role.PLANNER}),
    "read_job": frozenset({Role.PLANNER}),
    "move_night_visit": frozenset({Role.PLANNER}),
    "publish_night_plan": frozenset({Role.PLANNER}),
    "list_night_routes": frozenset({Role.PLANNER}),
    "report_night_event": frozenset({Role.PLANNER, Role.NURSE}),
    "ask_capacity": frozenset({Role.TRIAGE}),
    "export_access_log": frozenset({Role.PRIVACY_OFFICER}),
    "set_key_safe_code": frozenset({Role.PARTNER}),
    "read_key_safe_status": frozenset({Role.PARTNER}),
    "read_handover_notes": frozenset({Role.PARTNER}),
    "revoke_phone": frozenset({Role.ADMIN, Role.PLANNER}),
    "read_night_phones": frozenset({Role.PLANNER}),
    # The planner's board (issue 12).
    "read_night_board": frozenset({Role.PLANNER}),
    "read_night_board_version": frozenset({Role.PLANNER}),
    "read_board_roads": frozenset({Role.PLANNER}),
    "stream_night_board": frozenset({Role.PLANNER}),
    "quote_urgent_call": frozenset({Role.PLANNER}),
    "take_urgent_call": frozenset({Role.PLANNER}),
    "read_month_report": frozenset({Role.PARTNER}),
    # The phone API: a nurse on her registered phone (see `_headers`).
    "register_device": frozenset({Role.NURSE}),
    "get_my_route": frozenset({Role.NURSE}),
    "stream_route_changes": frozenset({Role.NURSE}),
    "upload_events": frozenset({Role.NURSE}),
    "reveal_key_safe_code": frozenset({Role.NURSE}),
    "get_bag_template": frozenset({Role.NURSE}),
    "get_bag_status": frozenset({Role.NURSE}),
    "get_restock_list": frozenset({Role.NURSE}),
}
USERS = {
    Role.ADMIN: "admin",
    Role.PLANNER: "planner",
    Role.NURSE: "nurse-n1",
    Role.PARTNER: "partner1",
    Role.TRIAGE: "triage1",
    Role.PRIVACY_OFFICER: "privacy1",
}
PATH_VALUES = {
    "night_date": "2026-11-23",
    "month": "2026-11",
    "job_id": "00000000-0000-0000-0000-000000000000",
    "name": "planner.js",
}


def _routes() -> list[APIRoute]:
    # FastAPI includes routers lazily; iter_route_contexts walks the effective route table.
    found = []
    for context in iter_route_contexts(create_app().routes):
        if isinstance(context.original_route, APIRoute):
            found.append(context.original_route)
    return found


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for route in _routes():
        for method in sorted(route.methods):
            path = re.sub(
                r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "1"), route.path_format
            )
            cases.append((route.name, method, path))
    return cases


def test_every_route_is_in_the_matrix() -> None:
    """A route without an expected row fails here: add it to EXPECTED."""
    names = {route.name for route in _routes()}
    assert names == set(EXPECTED), (
        f"missing: {names - set(EXPECTED)}, stale: {set(EXPECTED) - names}"
    )


@pytest.mark.parametrize(("name", "method", "path"), _cases())
def test_route_answers_each_role(world: World, name: str, method: str, path: str) -> None:
    """Allowed roles get past authorisation; others get 403; no credentials get 401."""
    expected = EXPECTED[name]
    anonymous = world.client.request(method, path, json={})
    if expected == PUBLIC:
        assert anonymous.status_code not in (401, 403), anonymous.text
        return
    assert anonymous.status_code == 401, (name, anonymous.text)
    assert anonymous.headers["content-type"] == "application/problem+json"
    for role, username in USERS.items():
        # A privacy officer and a nurse (her reports, S25-07) act with their second factor.
        headers = world.token(username, second_factor=role in (Role.PRIVACY_OFFICER, Role.NURSE))
        if role == Role.NURSE and path.startswith("/mobile/v1"):
            headers = register_phone(world, username)  # her token and registered phone
        response = world.client.request(method, path, json={}, headers=headers)
        if role in expected:
            assert response.status_code not in (401, 403), (name, role, response.text)
            assert response.status_code < 500, (name, role, response.text)
        else:
            assert response.status_code == 403, (name, role, response.status_code)
