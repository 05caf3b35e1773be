"""Triage capacity answers: "can a night nurse be at this address within N minutes?"

An insertion quote (`optimizer.quote`) on the current plan, no full solve, so the caller hears
yes or no while still on the phone. Nothing about the caller is stored: the location is used
for this answer only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from api.repositories import nights
from api.services.planning import (
    build_problem,
    care_materials,
    current_plan,
    reached_live_problem,
)
from optimizer import model as om
from optimizer.eligibility import eligible_nurses
from optimizer.live import with_visit
from optimizer.quote import quote
from optimizer.replan import first_answer_arrival, hold_promises

__all__ = ["CapacityAnswer", "capacity"]


@dataclass(frozen=True)
class CapacityAnswer:
    """Yes with the nurse and ETA, or no with a reason code and a sentence."""

    available: bool
    reason: str
    message: str
    nurse: str | None = None
    eta: datetime | None = None
    eta_minutes: int | None = None
    best_eta_minutes: int | None = None


def capacity(
    session: Session,
    *,
    location: om.Location,
    within_minutes: int,
    urgency: str,
    service_minutes: int,
    required_skills: list[str],
    now: datetime,
    care_task: str | None = None,
) -> CapacityAnswer:
    """Whether a nurse can be at ``location`` within ``within_minutes`` of ``now``; the
    call takes from the night bag what ``care_task`` takes (`phone.CARE_TASK_MATERIALS`), as
    the visit a partner then posts does (`planning.build_problem`)."""
    from api.repositories import accounts

    region = accounts.get_region(session)
    night_date = nights.night_date_for(region, now)
    night = nights.get_night(session, region, night_date)
    starts_at, ends_at = nights.night_bounds(region, night_date)
    if not starts_at <= now < ends_at:
        return CapacityAnswer(
            False,
            "outside_night_hours",
            f"the night team works {region.night_start}-{region.night_end}",
        )
    if night is None:
        return CapacityAnswer(False, "no_nurses_on_shift", "no night team is on shift now")
    # With the clock, as the partner's answer builds it: a visit reported done is believed
    # to have begun by now minus its care (`planning._plausible_start`); without it triage
    # took the nurse as busy for the rest of her care and promised a colleague (R05).
    night_problem = build_problem(session, region, night, extra_locations=[location], now=now)
    if not night_problem.problem.nurses:
        return CapacityAnswer(False, "no_nurses_on_shift", "no night team is on shift now")
    # Its routes and times are all the answer reads: the reasons for what it leaves out
    # (a layout per nurse and place for each) are not looked for.
    plan = current_plan(session, night_problem, explain=False)
    problem, plan, reach = reached_live_problem(session, night_problem, plan, now)
    moment = nights.seconds_since_start(night, now)
    visit = om.Visit(
        id="TRIAGE",
        client_ref="triage",
        location=night_problem.extra_locations[0],
        service_seconds=service_minutes * 60,
        required_skills=frozenset(required_skills),
        urgency=urgency,
        call_time=moment,
        # What the posted call will take, as `build_problem` gives it: asked without it,
        # triage promised a nurse whose bag check said no gloves (red team s28 R2).
        materials=care_materials(care_task, {item for n in problem.nurses for item in n.bag}),
    )
    trial = reach.problem(with_visit(problem, visit), plan)
    if plan is None:
        from optimizer.solve import plan_from_routes

        plan = plan_from_routes(trial, {})
    # Quoted as the re-plans will see it: every call answered before held to its promise.
    trial, _ = hold_promises(trial, plan)
    if not eligible_nurses(trial, visit):  # the nurses `quote` would give an option each
        return CapacityAnswer(False, "no_skilled_nurse", "no nurse on shift has the skills asked")
    deadline = moment + within_minutes * 60
    # The first answer to the partner's call itself, laid out here: the nurse and arrival
    # said are the plan's (the quote's soonest option alone could be one that answer then
    # refuses, as it would push a more urgent call answered before later).
    answer = first_answer_arrival(trial, plan, visit.id)
    if answer is not None and answer[1] <= deadline:
        nurse_id, arrival = answer
        eta = night.starts_at.astimezone(UTC) + timedelta(seconds=arrival)
        return CapacityAnswer(
            True,
            "in_time",
            f"nurse {nurse_id} can be there in {max(0, arrival - moment) // 60} minutes",
            nurse=nurse_id,
            eta=eta,
            eta_minutes=max(0, arrival - moment) // 60,
        )
    # Not in time: the soonest any nurse could be there, so the caller can weigh the
    # back-up (a quote of every nurse, asked only now: a yes does not need it).
    # The quote does not read ``not_by``: a nurse whose phone is silent (`api.night.reach`)
    # may not be sent, so her option is no one's ETA (S25-02: "soonest in 0 minutes; send
    # the back-up" to a question asked within 30, every phone silent).
    barred = next(v.not_by for v in trial.visits if v.id == visit.id)
    options = [o for o in quote(trial, plan, visit) if o.feasible]
    feasible = [o for o in options if o.nurse_id not in barred]
    if options and not feasible:
        return CapacityAnswer(
            False,
            "no_capacity",
            "no nurse whose phone is picking up her route can take it "
            f"({', '.join(sorted(barred))} not heard); send the back-up",
        )
    if feasible:
        soonest = min(o.eta for o in feasible)
        minutes = max(0, soonest - moment) // 60
        return CapacityAnswer(
            False,
            "not_in_time",
            f"the soonest a nurse can be there is in {minutes} minutes; send the back-up",
            best_eta_minutes=minutes,
        )
    return CapacityAnswer(
        False, "no_capacity", "no nurse can fit this in without breaking her shift or planned care"
    )
