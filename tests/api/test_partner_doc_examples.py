"""docs/service.md's worked example for partners, posted as written: the doc cannot go stale.

Only what differs between the demo and this test's region is replaced: the client's id (the
one registered here), the night (this test's) and the client's point (the demo is in Porto,
this region around Assen; the doc's point is checked to lie in the demo's area instead).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from api.seed import PORTO_CENTRE
from tests.api.conftest import NIGHT, World
from tests.api.test_planner import reoptimise, seed_night

DOC = Path(__file__).resolve().parents[2] / "docs" / "service.md"
CURL = re.compile(
    r"curl -sS -X (?P<method>POST|PATCH) http://127\.0\.0\.1:8000(?P<path>\S+) \\\n"
    r"(?P<options>.*?)<<'JSON'\n(?P<body>.*?)\nJSON\n",
    re.DOTALL,
)
HEADER = re.compile(r'-H "(?P<name>[A-Za-z-]+): (?P<value>[^"]*)"')
ANSWER = re.compile(r"```json\n(?P<body>.*?)\n```", re.DOTALL)


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## For partners: a worked example")
    return text[start : text.index("\n## ", start + 1)]


def _examples() -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each curl call (path, headers, body) with the answer shown after it, if any."""
    section = _section()
    calls = list(CURL.finditer(section))
    found = []
    for number, call in enumerate(calls):
        end = calls[number + 1].start() if number + 1 < len(calls) else len(section)
        answer = ANSWER.search(section, call.end(), end)
        headers = {h["name"]: h["value"] for h in HEADER.finditer(call["options"])}
        request = {
            "method": call["method"],
            "path": call["path"],
            "headers": headers,
            "body": json.loads(call["body"]),
        }
        found.append((request, json.loads(answer["body"]) if answer else None))
    return found


def _same_shape(shown: Any, real: Any, where: str = "answer") -> None:
    """Every field the doc shows is in the real answer, with a value of the same kind."""
    if isinstance(shown, dict):
        assert isinstance(real, dict), where
        for key, value in shown.items():
            assert key in real, f"{where}.{key} is not in the service's answer"
            _same_shape(value, real[key], f"{where}.{key}")
    elif isinstance(shown, list) and shown:
        assert isinstance(real, list) and real, where
        _same_shape(shown[0], real[0], f"{where}[0]")
    elif shown is not None and real is not None:
        assert type(shown) is type(real) or {type(shown), type(real)} <= {int, float}, where


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371 * math.asin(math.sqrt(h))


def test_the_partner_examples_in_the_doc_are_what_the_service_takes(world: World) -> None:
    examples = _examples()
    paths = [request["path"] for request, _ in examples]
    assert paths == ["/partner/v1/clients"] + ["/partner/v1/visit-requests"] * 3 + [
        "/partner/v1/visit-requests/9"
    ]
    (client, _), (planned, planned_answer), (acute, acute_answer) = examples[:3]
    (linked, _), (amend, amend_answer) = examples[3:]
    assert [request["method"] for request, _ in examples] == ["POST"] * 4 + ["PATCH"]
    assert planned["body"]["kind"] == "planned" and acute["body"]["kind"] == "unplanned"
    assert planned_answer is not None and acute_answer is not None
    point = (client["body"]["lat"], client["body"]["lon"])
    assert _km(point, PORTO_CENTRE) < world.settings.region_radius_km  # the demo takes it

    seed_night(world, visits=6)
    reoptimise(world)
    world.clock.set(1, 10)  # a night under way, as the acute call needs
    org = world.seeded.home_care[0]
    with world.sessions()() as session:
        from api.repositories import accounts

        region = accounts.get_region(session)
        base = (region.base_lat, region.base_lon)

    def post(request: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        assert request["headers"].pop("X-API-Key") == "$KEY"
        headers = {**request["headers"], **world.key(org)}
        answer = world.client.post(request["path"], json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        found: dict[str, Any] = answer.json()
        return found

    made = post(client, {**client["body"], "lat": base[0] + 0.002, "lon": base[1] + 0.002})
    replanner = world.client.app.state.replanner  # type: ignore[attr-defined]
    replanner.stop()  # the answer the doc shows: before the re-plan has run
    try:
        shown = post(planned, {**planned["body"], "client_id": made["id"], "night": str(NIGHT)})
    finally:
        replanner.start()
    _same_shape(planned_answer, shown)
    assert shown["visits"][0]["not_planned_reason"] == "replan_pending"

    answered = post(acute, {**acute["body"], "client_id": made["id"]})
    _same_shape(acute_answer, answered)
    assert answered["visits"][0]["planned"] is True, answered
    assert replanner.wait_idle(timeout=60)

    # 4: the check linked after the wound care of step 2, and its gap amended.
    assert linked["body"]["after"]["request_id"] == planned_answer["id"]
    after = {**linked["body"]["after"], "request_id": shown["id"]}
    check = post(
        linked, {**linked["body"], "client_id": made["id"], "night": str(NIGHT), "after": after}
    )
    assert check["after"] == after
    assert amend["path"].endswith(f"/{amend_answer['id']}")
    assert amend["body"]["after"]["request_id"] == planned_answer["id"]
    assert amend["headers"].pop("X-API-Key") == "$KEY"
    changed = world.client.patch(
        f"/partner/v1/visit-requests/{check['id']}",
        json={"after": {**amend["body"]["after"], "request_id": shown["id"]}},
        headers={**amend["headers"], **world.key(org)},
    )
    assert changed.status_code == 200, changed.text
    _same_shape(amend_answer, changed.json())
    assert changed.json()["after"]["min_minutes"] == amend_answer["after"]["min_minutes"]
    assert replanner.wait_idle(timeout=60)
