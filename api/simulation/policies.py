"""The baselines, played on exactly the same nights as the service (same calls, noise, faults).

- ``nearest_free``: each call goes, when it comes in, to the nurse who can be there first
  once free (after her current visit and the calls she already has); planned care follows
  the evening plan's order.
- ``nearest_free_rule``: ``nearest_free`` under the region's rule for acute versus planned
  care (`api.services.tolerance`): a call goes to the nurse who can be there first among those
  for whom taking it starts none of her remaining planned care past its window and tolerance
  (nominal drives and care, as a dispatcher would reckon) that would have started inside
  them without it; when no nurse can, the back-up is sent at once (``triage_no``), as the
  service's triage says no. ``nearest_free`` itself buys its response times with planned care
  past its tolerance, which the region's rule forbids; this is the greedy dispatcher a region
  keeping the rule could run instead of the service.
- ``fixed_fcfs``: the evening plan is never changed; calls wait in one queue and the first
  nurse to finish a visit takes the oldest call before her next planned visit.

Each nurse takes her break as the evening plan has it (``evening_breaks``): once free at or
after its start she takes it before her next call or visit, for the plan's length, as the
service's nurses must (the labour rule `api.services.planning` gives every long shift). The
baselines once took no break at all: 30 minutes a nurse a night more than the service has,
and a nurse free for an acute call while the service's was on her break (issue 11, seed 11
night 10: triage's right "no" at 04:11, both nurses' breaks due by 04:30, against a 5-minute
response by ``fixed_fcfs``). As for the service's nurses, a break is no work: overtime runs
from the end of her last visit, call or hold, and held up on her break she is back when both
are over.

Both start from the service's own published evening plan (the same routes the ``nachtroute``
policy starts from) and drive on the same travel matrix (`api.travel`, the service's road
network or its straight-line estimates), times the night's drawn noise. Faults that are about
software (a phone offline, a service restart) do not touch them; a key safe that will not
open and a nurse held up do, as in the service's night. Like the service's partners, a visit
the team has not begun by its deadline (target or window end + ``backup_after_minutes``, or
+ the care task's tolerance when longer: `SimParams.planned_deadline`) goes
to the back-up partner. Units: minutes from 23:00.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from api.simulation.generate import Call, NightSpec, Planned
from api.simulation.params import SimParams
from api.simulation.records import CallOutcome, NightRecord, PlannedOutcome

__all__ = ["BASELINES", "play_baseline"]

BASELINES = ("nearest_free", "nearest_free_rule", "fixed_fcfs")
TARGET_MINUTES = {"acute": 30, "urgent": 60, "soon": 120}
#: ``travel(from_place, to_place)`` in minutes; place -1 is the team's base.
Travel = Callable[[int, int], float]


@dataclass
class _Nurse:
    index: int
    planned: list[Planned]
    calls: list[Call] = field(default_factory=list)
    free_at: float = 0.0
    #: When the team expects her free (busy): her job's start plus its nominal care
    #: minutes, a break's or a hold's end. What a dispatcher can know; ``free_at`` is when
    #: she is, care running over or short included (the noise nobody knows in advance).
    expected_free: float = 0.0
    at: int = -1
    busy: bool = False
    #: The evening plan's break (start, end), minutes from 23:00; ``None``: none or taken.
    rest: tuple[float, float] | None = None
    #: On her break now (busy until ``free_at`` with it).
    resting: bool = False
    #: When her last visit, call or hold ended: overtime is counted from it, as the
    #: service's nurse's (`ServiceNight._end_of_night`: a break is no work).
    worked_until: float = 0.0

    def rest_due(self, moment: float) -> float:
        """Minutes of break she takes before a job she would begin at ``moment``."""
        if self.rest is None or moment + 1e-6 < self.rest[0]:
            return 0.0
        return self.rest[1] - self.rest[0]


def play_baseline(
    policy: str,
    spec: NightSpec,
    evening_routes: list[list[str]],
    travel: Travel,
    params: SimParams,
    evening_breaks: Sequence[tuple[float, float] | None] | None = None,
) -> NightRecord:
    """One night under ``policy``; ``evening_routes`` are job keys per nurse, in order;
    ``evening_breaks`` each nurse's break in the evening plan, (start, end) in minutes from
    23:00 (``None``: she has none; the argument left out: no nurse has one)."""
    if policy not in BASELINES:
        raise ValueError(f"policy: one of {', '.join(BASELINES)}")
    record = NightRecord(policy=policy, night=spec.number)
    planned_by_key = {p.key: p for p in spec.planned}
    outcomes = {
        p.key: PlannedOutcome(key=p.key, care_task=p.care_task, window=p.window)
        for p in spec.planned
    }
    calls = {c.key: CallOutcome(key=c.key, urgency=c.urgency, minute=c.minute) for c in spec.calls}
    rests = list(evening_breaks or [])
    nurses = [
        _Nurse(
            i,
            [planned_by_key[k] for k in route if k in planned_by_key],
            rest=rests[i] if i < len(rests) else None,
        )
        for i, route in enumerate(evening_routes)
    ]
    in_routes = {k for route in evening_routes for k in route}
    for key, outcome in outcomes.items():
        outcome.handed_off = key not in in_routes  # the evening plan left it out
        outcome.reason = None if key in in_routes else "not_planned"
    queue: list[Call] = []  # fixed_fcfs: one queue for the team
    # Events: (minute, order, kind, payload); kinds: call, free (nurse), rest (nurse: her
    # break's start), hold (nurse).
    events: list[tuple[float, int, str, int]] = []
    order = 0

    def push(minute: float, kind: str, payload: int) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (minute, order, kind, payload))

    for index, call in enumerate(spec.calls):
        push(call.minute, "call", index)
    for nurse in nurses:
        push(0.0, "free", nurse.index)
        if nurse.rest is not None:
            push(nurse.rest[0], "rest", nurse.index)
    if spec.faults.delayed is not None:
        who, minute, _delay = spec.faults.delayed
        push(minute, "hold", who % len(nurses))

    def eta(nurse: _Nurse, now: float, call: Call) -> float:
        # Not busy, she is free now (waiting for her next visit's window, she can go). Busy,
        # when she is expected free: the baselines chose by the care's actual minutes, known
        # to no dispatcher, which the service's answers cannot know either (session 28).
        moment = max(nurse.expected_free, now) if nurse.busy else now
        where, rested = nurse.at, False
        for job in [*nurse.calls, call]:
            if not rested and (due := nurse.rest_due(moment)):
                moment, rested = moment + due, True  # her break comes first
            moment += travel(where, job.place)
            if job is call:
                break
            moment += job.service_minutes
            where = job.place
        return moment

    def tolerance(care_task: str) -> int:
        return params.tolerance_minutes.get(care_task, 0) if params.apply_tolerance else 0

    def past_rule(nurse: _Nurse, now: float, call: Call | None) -> int:
        """How many of her remaining planned visits would start past window and tolerance
        (or go to the back-up) with ``call`` after her queued calls (``None``: without it),
        on nominal drives and care, walking her night as `next_job` will: her break once
        free after its start (or while she waits), calls past their deadline and planned
        care past its own handed off, a wait until she must leave for a window."""
        moment = max(nurse.expected_free, now) if nurse.busy else now
        where, rest, late = nurse.at, nurse.rest, 0
        jobs: list[Call | Planned] = [*nurse.calls, *([call] if call else []), *nurse.planned]
        for job in jobs:
            if rest is not None and moment + 1e-6 >= rest[0]:
                moment, rest = moment + (rest[1] - rest[0]), None
            drive = travel(where, job.place)
            if isinstance(job, Call):
                if moment > job.minute + TARGET_MINUTES[job.urgency] + params.backup_after_minutes:
                    continue
            else:
                if moment > params.planned_deadline(job.care_task, job.window[1]) or (
                    moment >= spec.minutes
                ):
                    late += 1
                    continue
                leave = job.window[0] - drive
                if leave > moment + 0.5:
                    if rest is not None and rest[0] <= leave:  # her break while she waits
                        moment, rest = max(moment, rest[0]) + (rest[1] - rest[0]), None
                    moment = max(moment, leave)
            moment += drive
            if isinstance(job, Planned):
                moment = max(moment, job.window[0])
                late += moment > job.window[1] + tolerance(job.care_task)
            moment += job.service_minutes
            where = job.place
        return late

    def do(nurse: _Nurse, now: float, job: Planned | Call) -> None:
        drive = travel(nurse.at, job.place) * job.travel_factor
        arrive = now + drive
        record.driving_minutes += drive
        nurse.at = job.place
        start = max(arrive, job.window[0]) if isinstance(job, Planned) else arrive
        outcome = calls[job.key] if isinstance(job, Call) else outcomes[job.key]
        outcome.on_site = start
        if job.key_safe_fails:
            end = start + params.key_safe_minutes
            outcome.handed_off, outcome.reason = True, "no_entry"
        else:
            end = start + job.actual_minutes
            outcome.start = start
        nurse.free_at, nurse.busy, nurse.worked_until = end, True, end
        nurse.expected_free = start + job.service_minutes
        push(end, "free", nurse.index)

    def next_job(nurse: _Nurse, now: float) -> None:
        """She is free at ``now``: her break when due, else a call, else her next planned
        visit (or wait)."""
        nurse.busy = nurse.resting = False
        rest = nurse.rest_due(now)
        if rest:
            nurse.rest = None
            nurse.free_at, nurse.busy, nurse.resting = now + rest, True, True
            nurse.expected_free = nurse.free_at
            push(now + rest, "free", nurse.index)
            return
        while True:
            if policy != "fixed_fcfs" and nurse.calls:
                call = nurse.calls.pop(0)
            elif policy == "fixed_fcfs" and queue:
                call = queue.pop(0)
            else:
                break
            if now > call.minute + TARGET_MINUTES[call.urgency] + params.backup_after_minutes:
                calls[call.key].handed_off = True
                calls[call.key].reason = "deadline"
                continue
            do(nurse, now, call)
            return
        while nurse.planned:
            visit = nurse.planned[0]
            deadline = params.planned_deadline(visit.care_task, visit.window[1])
            if now > deadline or now >= spec.minutes:
                outcome = outcomes[nurse.planned.pop(0).key]
                outcome.handed_off, outcome.reason = True, "deadline"
                continue
            leave = visit.window[0] - travel(nurse.at, visit.place) * visit.travel_factor
            if leave > now + 0.5:
                nurse.free_at = leave  # waits (a call may come first)
                push(leave, "free", nurse.index)
                return
            # What she expects when she sets off (no noise): the miss reasons compare to it.
            expected = now + travel(nurse.at, visit.place)
            outcomes[visit.key].planned_start = max(expected, visit.window[0])
            do(nurse, now, nurse.planned.pop(0))
            return
        nurse.free_at = now

    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "call":
            call = spec.calls[payload]
            if policy == "nearest_free_rule":
                keep = [n for n in nurses if past_rule(n, now, call) <= past_rule(n, now, None)]
                if not keep:
                    calls[call.key].handed_off = True
                    calls[call.key].reason = "triage_no"
                    calls[call.key].triage_reason = "planned_tolerance"
                    continue
            else:
                keep = nurses
            if policy != "fixed_fcfs":
                best = min(keep, key=lambda n: eta(n, now, call))
                best.calls.append(call)
                if not best.busy:
                    next_job(best, now)
            else:
                queue.append(call)
                # The first idle nurse takes it; one whose break is due takes that first
                # (a call as her break begins), so the next idle one is asked.
                for nurse in [n for n in nurses if not n.busy]:
                    if not queue:
                        break
                    next_job(nurse, now)
        elif kind == "rest":
            nurse = nurses[payload]
            if not nurse.busy:
                next_job(nurse, now)  # waiting for her next visit: the break comes first
        elif kind == "hold":
            nurse = nurses[payload]
            assert spec.faults.delayed is not None
            delay = spec.faults.delayed[2]
            if nurse.busy:
                # Her current visit runs over: everything after it moves. On her break she
                # is held up meanwhile and back when both are over (the service's nurse is
                # held while she waits for her route, which the break is).
                if nurse.resting:
                    moved = max(0.0, now + delay - nurse.free_at)
                    nurse.worked_until = max(nurse.worked_until, now + delay)
                else:
                    moved = delay
                    nurse.worked_until = nurse.free_at + delay
                nurse.free_at += moved
                nurse.expected_free += moved  # her phone said she is held up
                for i, event in enumerate(events):
                    if event[2] == "free" and event[3] == payload:
                        events[i] = (event[0] + moved, event[1], event[2], event[3])
                heapq.heapify(events)
            else:
                nurse.busy, nurse.free_at = True, now + delay
                nurse.expected_free = nurse.free_at
                nurse.worked_until = max(nurse.worked_until, now + delay)
                push(now + delay, "free", payload)
        elif kind == "free":
            nurse = nurses[payload]
            if abs(now - nurse.free_at) > 1e-6 and nurse.busy:
                continue  # stale (moved by a hold)
            if not nurse.busy and now + 1e-6 < nurse.free_at:
                continue  # a stale wake-up: she already waits for a later one
            next_job(nurse, now)
    for nurse in nurses:
        record.overtime_minutes += max(0.0, nurse.worked_until - spec.minutes)
    for call in queue:
        calls[call.key].handed_off = True
        calls[call.key].reason = "night_end"
    for nurse in nurses:
        for call in nurse.calls:
            calls[call.key].handed_off = True
            calls[call.key].reason = "night_end"
    record.calls = list(calls.values())
    record.planned = list(outcomes.values())
    return record
