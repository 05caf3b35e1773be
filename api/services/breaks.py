"""The nurses' breaks over a night: each nurse's rule, slots that keep cover, and a break
kept where it was once begun.

A break is a rule on the optimizer's nurse (`optimizer.model.BreakRule`: a duration that
must fit in a window). The search is free to put it anywhere in its window, so the
service cuts the shared break window into slots (`staggered`) and, on a live re-plan,
keeps what the night has done (`kept`): a break begun is taken, a nurse on it is free only
when it ends, and a nurse whose slot has passed without her break may still take it in
what is left of the window. Times are seconds from the night's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from optimizer import model as om

__all__ = ["BREAK_SLOT_ROOM", "Begun", "break_rule", "kept", "staggered", "with_room"]

#: The least room a nurse's break keeps to move within her share of the break window.
BREAK_SLOT_ROOM = 15 * 60


def break_rule(shift: om.TimeWindow) -> om.BreakRule | None:
    """The break a shift of ``shift`` owes: 30 minutes in the three hours after its third
    hour, for a shift of 7 hours or more; ``None`` for a shorter one."""
    if shift.end - shift.start < 7 * 3600:
        return None
    begin = shift.start + 3 * 3600
    return om.BreakRule(
        duration_seconds=30 * 60, window=om.TimeWindow(start=begin, end=begin + 3 * 3600)
    )


def staggered(rules: Sequence[om.BreakRule | None]) -> list[om.BreakRule | None]:
    """``rules`` (one per nurse, in nurse-code order) with the nurses whose break windows
    overlap each given a slot of their shared span in turn (earlier window first, then
    code order), as many slots as hold a break with a quarter of an hour's room: so breaks
    keep cover. A slot is her share of the span cut to her own window; where that holds
    no break with room, she keeps her own window.

    Free to move anywhere in the window, the search put two of three nurses' breaks at its
    first minute (it costs nothing), and an acute call made a minute later waited 13
    minutes for the third, busy nurse while the greedy dispatcher's idle one was there in
    4 (issue 11, seed 11 night 1). Windows that overlap without being equal (shifts
    starting at different times) are cut together, or their slots could overlap.
    """
    order = sorted(
        (index for index, rule in enumerate(rules) if rule is not None),
        key=lambda i: (_rule(rules, i).window.start, i),
    )
    clusters: list[list[int]] = []
    reach = -1
    for index in order:
        window = _rule(rules, index).window
        if clusters and window.start < reach:
            clusters[-1].append(index)
        else:
            clusters.append([index])
        reach = max(reach, window.end)
    out = list(rules)
    for members in clusters:
        start = min(_rule(rules, i).window.start for i in members)
        end = max(_rule(rules, i).window.end for i in members)
        longest = max(_rule(rules, i).duration_seconds for i in members)
        slots = min(len(members), (end - start) // (longest + BREAK_SLOT_ROOM))
        if slots <= 1:
            continue
        width = (end - start) // slots
        for turn, index in enumerate(members):
            own = _rule(rules, index)
            slot = turn % slots
            first = max(own.window.start, start + slot * width)
            last = min(own.window.end, end if slot == slots - 1 else start + (slot + 1) * width)
            if last - first < own.duration_seconds + BREAK_SLOT_ROOM:
                continue  # her share lies mostly outside her own window: she keeps it
            out[index] = om.BreakRule(
                duration_seconds=own.duration_seconds,
                window=om.TimeWindow(start=first, end=last),
            )
    return out


def _rule(rules: Sequence[om.BreakRule | None], index: int) -> om.BreakRule:
    rule = rules[index]
    assert rule is not None  # only indices of nurses with a rule are passed
    return rule


@dataclass(frozen=True)
class Begun:
    """A break the night has begun: from ``start`` to ``end`` (seconds from the night's
    start; ``end`` is when it ends or ended)."""

    start: int
    end: int
    #: Begun as a stored plan had it (her phone silent), not yet recorded as such: a re-plan
    #: storing routes without it records it (`api.services.planning.record_breaks`).
    by_plan: bool = False


def kept(
    nurse: om.Nurse, own: om.BreakRule | None, begun: Begun | None, now: int | None
) -> om.Nurse:
    """``nurse`` (her rule already a slot, `staggered`) as the night at ``now`` has left
    her break: taken once begun, wherever the slots are cut now; not begun, it lies ahead:
    from ``now`` on, and once her slot has passed, in what is left of her own window ``own``
    (a slot re-cut mid-night, by a colleague joining or sent home, may lie behind the
    clock; a busy nurse may not have taken it when it came). A window passed entirely leaves
    the break missed, which the plan reports (`break_missed`).

    Before (review of issue 11, F1/F2): a nurse five minutes into her break, whose slot a
    colleague's joining moved later, was taken as free and sent to a visit, then owed a
    second break; a nurse whose new slot had passed had her break laid in the past, taken
    as taken, and had none all night.
    """
    rule = nurse.break_rule
    if rule is None or nurse.break_taken:
        return nurse
    if begun is not None:
        return nurse.model_copy(update={"break_taken": True})
    if now is None:
        return nurse
    end = rule.window.end
    if rule.latest_start < now and own is not None:
        end = max(end, own.window.end)
    # From the next minute: one laid at ``now`` would read as begun (`optimizer.live.state_at`)
    # and vanish from her route, at every re-plan again.
    start = max(rule.window.start, now + 60)
    if end - start < rule.duration_seconds:
        return nurse  # its window has passed: missed, and the plan says so
    ahead = om.BreakRule(
        duration_seconds=rule.duration_seconds, window=om.TimeWindow(start=start, end=end)
    )
    return nurse.model_copy(update={"break_rule": ahead})


def with_room(nurse: om.Nurse, own: om.BreakRule | None, now: int) -> om.Nurse:
    """``nurse`` as the live night has her at ``now`` (`optimizer.live.state_at`: free at
    ``available_at``): a break still owed that she can no longer begin in her slot (busy
    past its last start) may be taken in what is left of her own window ``own``. Left to
    the slot, the break was missed and her night went on without one (review s27, R6: at
    her break she began a visit running late)."""
    rule = nurse.break_rule
    if rule is None or nurse.break_taken or own is None:
        return nurse
    free = max(now + 60, nurse.available_at or 0)
    if free <= rule.latest_start or own.window.end <= rule.window.end:
        return nurse
    start = max(rule.window.start, min(free, own.latest_start))
    if own.window.end - start < rule.duration_seconds:
        return nurse
    wider = om.BreakRule(
        duration_seconds=rule.duration_seconds,
        window=om.TimeWindow(start=start, end=own.window.end),
    )
    return nurse.model_copy(update={"break_rule": wider})
