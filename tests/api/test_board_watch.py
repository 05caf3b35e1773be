"""The board streams' shared version read (R15): however many streams watch a night, the
database is read once per interval; a change shows at the next interval. On the test's own
clock (no sleeping), against the real database read."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api.routes.board import _version_of
from api.services.board_watch import BoardWatch
from tests.api.conftest import NIGHT, World
from tests.api.test_planner import reoptimise, seed_night


def test_streams_of_a_night_share_one_read_per_interval(world: World) -> None:
    seed_night(world, visits=3)
    version = reoptimise(world)
    reads: list[date] = []
    now = [0.0]

    def read(night_date: date) -> dict[str, Any]:
        reads.append(night_date)
        with world.sessions()() as session:
            return _version_of(session, night_date)

    watch = BoardWatch(read, interval=1.0, clock=lambda: now[0])

    async def streams(count: int) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(watch.current(NIGHT) for _ in range(count))))

    async def watching() -> None:
        seen = await streams(50)
        assert seen == [{"version": version, "replan_pending": False}] * 50
        assert reads == [NIGHT]
        now[0] = 0.5  # within the interval: the same reading
        await streams(10)
        assert reads == [NIGHT]
        now[0] = 1.0  # the next interval: one more read for all of them
        await streams(10)
        assert reads == [NIGHT, NIGHT]
        other = date(2026, 12, 1)  # another night has its own reading
        assert await watch.current(other) == {"version": 0, "replan_pending": False}
        assert reads == [NIGHT, NIGHT, other]

    asyncio.run(watching())


@given(st.lists(st.sampled_from(["take", "release"]), max_size=40), st.integers(1, 4))
def test_a_users_slots_never_exceed_the_cap_nor_go_negative(steps: list[str], cap: int) -> None:
    slots = BoardWatch(lambda d: {}, per_user=cap).slots
    held = 0
    for step in steps:
        if step == "take":
            taken = slots.take("u")
            assert taken == (held < cap)
            held += taken
        elif held:
            slots.release("u")
            held -= 1
        assert slots.held("u") == held <= cap
    assert slots.held("other") == 0
