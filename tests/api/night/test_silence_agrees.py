"""The board's "silent" and the 409 ``nurse-silent`` refusal agree on every phone history
(`api.night.reach`): Hypothesis writes route reads, route publications, phone registrations
and revocations and visit outcomes into a real night's database (SQLite, rolled back after
each example), then asks the board (`board_of`) and a hand move's check
(`silent_nurse_check`) about every nurse at the same moment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from api.core.problems import NurseSilent
from api.core.roles import Principal, Role
from api.db.models import AccessLogEntry, Night, Nurse, RouteVersion, User, Visit
from api.db.phone_models import PhoneDevice
from api.night.reach import ROUTE_READ
from api.repositories import accounts
from api.services.board import board_of
from api.services.planning import silent_nurse_check
from tests.api.conftest import NIGHT, World
from tests.api.invariants import visits_placed_after_each_test  # noqa: F401
from tests.api.phone_helpers import published_night, register_phone

#: Minutes from the night's start: mostly around it (silent 3 minutes after a publication,
#: counted from the start at the earliest), some in the evening before; whole minutes, so a
#: moment often falls exactly `SILENT_AFTER_SECONDS` after a publication.
MINUTES = st.one_of(st.integers(-14 * 60, -11), st.integers(-10, 60), st.integers(-10, 60))


@dataclass(frozen=True)
class Read:
    nurse: int
    minute: int
    #: Which of the night's clients the route showed (None: an empty route, a row naming none).
    client: int | None


@dataclass(frozen=True)
class Publish:
    nurse: int
    minute: int
    #: Which of the night's visits the route holds (indexes; some may be done or cancelled).
    visits: frozenset[int]


@dataclass(frozen=True)
class Register:
    nurse: int
    minute: int
    revoked: bool


NURSE = st.integers(0, 2)
PUBLISH = st.builds(
    Publish, NURSE, MINUTES, st.frozensets(st.integers(0, 7), min_size=1, max_size=3)
)
#: Publications and registrations weigh more than reads: a nurse is silent only with a
#: phone and a route she has not read.
HISTORY = st.lists(
    st.one_of(
        st.builds(Read, NURSE, MINUTES, st.none() | st.integers(0, 7)),
        PUBLISH,
        PUBLISH,
        PUBLISH,
        st.builds(Register, NURSE, MINUTES, st.sampled_from([False, False, True])),
    ),
    min_size=1,
    max_size=16,
)
OUTCOMES = st.lists(st.sampled_from(["open", "open", "done", "cancelled"]), min_size=8, max_size=8)


def test_the_board_and_the_refusal_agree_on_whose_phone_is_silent(world: World) -> None:
    """For any history of phone reads, publications, registrations and visit outcomes and
    any moment, a nurse is shown silent on the board exactly when giving her care by hand
    is refused 409 ``nurse-silent``, with the same since and last-heard times."""
    published_night(world, visits=8)
    for code in sorted(world.seeded.nurses)[:3]:  # as the history's nurses 0, 1 and 2
        register_phone(world, f"nurse-{code.lower()}")
    factory = world.sessions()
    with factory() as session:
        night = session.scalars(select(Night).where(Night.night_date == NIGHT)).one()
        night_id, starts_at = night.id, night.starts_at
    planner_id = world.seeded.users["planner"][0]

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        history=HISTORY,
        outcomes=OUTCOMES,
        now_minute=MINUTES,
        after=st.one_of(
            st.none(), *[st.tuples(st.integers(0, 15), st.sampled_from([2, 3, 3, 4]))] * 3
        ),
        now_second=st.sampled_from([0, 0, 1, 59]),
    )
    # The edges, every run: 3 minutes after a publication to the second, before and at it,
    # and a publication in the evening, counted from the night's start.
    @example([Publish(0, 5, frozenset({0}))], ["open"] * 8, 8, None, 0)
    @example([Publish(0, 5, frozenset({0}))], ["open"] * 8, 7, None, 59)
    @example([Publish(1, -30, frozenset({0}))], ["open"] * 8, 3, None, 0)
    @example([Publish(1, -30, frozenset({0}))], ["open"] * 8, 2, None, 59)
    @example([Publish(2, 5, frozenset({0})), Read(2, 6, 0)], ["open"] * 8, 30, None, 0)
    def agree(
        history: list[Read | Publish | Register],
        outcomes: list[str],
        now_minute: int,
        after: tuple[int, int] | None,
        now_second: int,
    ) -> None:
        published = [e.minute for e in history if isinstance(e, Publish)]
        if after is not None and published:
            # Often the moment a publication is about to count, counts, or just did (3 min).
            now_minute = max(published[after[0] % len(published)], 0) + after[1]
        with factory() as session:
            night = session.get_one(Night, night_id)
            nurses = list(session.scalars(select(Nurse).order_by(Nurse.id)))[:3]
            visits = list(
                session.scalars(select(Visit).where(Visit.night_id == night_id).order_by(Visit.id))
            )[:8]
            for visit, status in zip(visits, outcomes, strict=False):
                visit.status = status
            _write(session, night, nurses, visits, history, starts_at)
            now = starts_at + timedelta(minutes=now_minute, seconds=now_second)
            planner = Principal(role=Role.PLANNER, actor="planner", user_id=planner_id)
            board = board_of(session, planner, accounts.get_region(session), night, now=now)
            shown = {n["id"]: n["phone"] for n in board["nurses"]}
            for nurse in nurses:
                if nurse.code not in shown:
                    continue  # not on shift: not on the board
                phone = shown[nurse.code]
                refused = _refusal(session, night, nurse, now)
                assert phone["silent"] == (refused is not None), (nurse.code, phone, refused)
                event("silent" if phone["silent"] else "not silent")
                if refused is not None:
                    assert phone["silent_since"] == refused["silent_since"]
                    assert phone["heard_at"] == refused["heard_at"]
            session.rollback()

    agree()


def _refusal(session: Any, night: Night, nurse: Nurse, now: datetime) -> dict[str, Any] | None:
    """The 409's extra fields when a hand move to her is refused as silent, else None."""
    try:
        silent_nurse_check(
            session, night, nurse, pinned=False, acknowledged=False, dry_run=False, now=now
        )
    except NurseSilent as refusal:
        return dict(refusal.extra)
    return None


def _write(
    session: Any,
    night: Night,
    nurses: list[Nurse],
    visits: list[Visit],
    history: list[Read | Publish | Register],
    starts_at: datetime,
) -> None:
    """The history as the service would have written it (rows only; rolled back after)."""
    users = {
        nurse_id: user_id
        for user_id, nurse_id in session.execute(
            select(User.id, User.nurse_id).where(User.nurse_id.is_not(None))
        ).tuples()
    }
    template = session.scalars(
        select(RouteVersion).where(RouteVersion.night_id == night.id)
    ).first()
    for number, happened in enumerate(history):
        nurse = nurses[happened.nurse % len(nurses)]
        at = starts_at + timedelta(minutes=happened.minute)
        if isinstance(happened, Read):
            client = (
                visits[happened.client % len(visits)].client_id
                if happened.client is not None
                else None
            )
            session.add(
                AccessLogEntry(
                    at=at,
                    event="read",
                    client_id=client,
                    user_id=users[nurse.id],
                    actor=f"nurse:{nurse.code}",
                    role="nurse",
                    purpose=ROUTE_READ,
                )
            )
        elif isinstance(happened, Publish):
            held = [visits[i % len(visits)].id for i in sorted(happened.visits)]
            steps = [
                step
                for step in (template.steps if template is not None else [])
                if step.get("visit_id") is None
            ]
            steps[1:1] = [_visit_step(template, visit_id) for visit_id in held]
            session.add(
                RouteVersion(
                    night_id=night.id,
                    nurse_id=nurse.id,
                    version=1000 + number,
                    plan_version=1000 + number,
                    steps=steps,
                    published_at=at,
                )
            )
        else:
            session.add(
                PhoneDevice(
                    id=str(uuid.uuid4()),
                    nurse_id=nurse.id,
                    user_id=users[nurse.id],
                    platform="android",
                    app_version="1.0.0",
                    label="test phone",
                    public_key="{}",
                    registered_at=at,
                    revoked_at=at + timedelta(minutes=1) if happened.revoked else None,
                )
            )
    session.flush()


def _visit_step(template: RouteVersion | None, visit_id: int) -> dict[str, Any]:
    """A stored visit step for ``visit_id``, shaped as the template route's first one."""
    example = next(
        (dict(s) for s in (template.steps if template else []) if s.get("visit_id") is not None),
        None,
    )
    assert example is not None, "the published night has a visit on a route"
    example["visit_id"] = visit_id
    return example
