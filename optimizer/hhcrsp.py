"""The home health care routing and scheduling benchmark (HHCRSP): reader of the UniUD JSON
format, the instance as a night for `optimizer.solve`, the UniUD solution format, and an
independent checker of the benchmark's objective.

Sources: Mankowska, Meisel, Bierwirth, Health Care Management Science 17:15-30 (2014); the
UniUD conversion and solutions of Ceschia, Di Gaspero, Rosati, Schaerf, ITOR 33(1):38-67
(2026), GitHub ``iolab-uniud/hhcrsp`` (format described in its README). Conventions:

- a service may not start before its patient's window opens ``e``; starting after ``l`` is
  allowed and counts ``start - l`` as tardiness (per service: a double service counts twice);
- a double service is ``simultaneous`` (both start at the same moment) or ``sequential``
  (the second listed starts ``min..max`` after the first listed); two different caregivers;
- travel time equals distance; every route starts at the depot at time 0 and ends there;
- objective ``(distance + total tardiness + max tardiness) / 3``.

In the night every time unit of the instance is ``scale`` seconds (100 for fractional
distances, 1 for integer ones, see `scale_of`), a patient's service is a planned visit whose
window end is soft up to the night's end at one cost unit per second late (the same per
second as travel), and a double service is two visits linked by a `Dependency`. The maximum
tardiness is searched for with the visits' ``late_tolerance_seconds``: the smallest cap on
tardiness whose first plan has every service, then searches from a tighter cap loosened while a
service is out (`solve_hhcrsp`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from optimizer.checker import check
from optimizer.model import (
    Dependency,
    Night,
    Nurse,
    Problem,
    TimeWindow,
    TravelMatrix,
    Visit,
)
from optimizer.plan import Plan, StepType
from optimizer.search import SearchConfig, default_portfolio
from optimizer.solve import solve

__all__ = [
    "HhcrspInstance",
    "HhcrspReport",
    "HhcrspResult",
    "Patient",
    "check_hhcrsp",
    "escalation_configs",
    "problem_from_hhcrsp",
    "read_hhcrsp",
    "scale_of",
    "solution_from_plan",
    "solve_hhcrsp",
]

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_HORIZON = 24 * 3600
_EPS = 1e-3  # the conversion truncated distances to three decimals
#: Tardy instances (see `solve_hhcrsp`): the search starts this many rungs of the cap ladder
#: tighter than the loosest cap a construction needed, with this share of the time left,
#: and each looser rung while a service is still out gets this share of the time left.
_TIGHTER_RUNGS = 2
_COLD_SHARE = 0.4
_STEP_SHARE = 0.25
#: Instances that need no tardiness: the share of the time searched at cap 0 before the
#: search goes on one rung looser (30 s, load 14: F1 1446 -> 1386, E2 913 -> 885,
#: K75-19 403 -> 390, K100-8 682 -> 686).
_ZERO_SHARE = 0.7


@dataclass(frozen=True)
class Patient:
    """One patient: window ``[e, l]``, one or two ``(service, duration)``, and for two the
    synchronisation: ``None`` (simultaneous) or ``(min, max)`` (sequential)."""

    id: str
    window: tuple[float, float]
    services: tuple[tuple[str, float], ...]
    gap: tuple[float, float] | None = None


@dataclass(frozen=True)
class HhcrspInstance:
    """An instance; ``distances`` rows and columns are the depot, then the patients in order."""

    name: str
    patients: tuple[Patient, ...]
    caregivers: tuple[tuple[str, frozenset[str]], ...]
    distances: tuple[tuple[float, ...], ...]
    services: frozenset[str] = field(default_factory=frozenset)

    def index(self, patient_id: str) -> int:
        """The patient's row in ``distances``."""
        for k, patient in enumerate(self.patients):
            if patient.id == patient_id:
                return k + 1
        raise KeyError(patient_id)


def read_hhcrsp(path: str | Path) -> HhcrspInstance:
    """Read a UniUD JSON instance; ``ValueError`` naming the file and field if malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read a JSON instance ({error})") from None
    try:
        return _parse(path.stem, data)
    except (KeyError, TypeError, IndexError, ValueError) as error:
        raise ValueError(f"{path}: not a UniUD HHCRSP instance ({error!s})") from None


def _parse(name: str, data: dict[str, Any]) -> HhcrspInstance:
    defaults = {s["id"]: float(s["default_duration"]) for s in data["services"]}
    patients = []
    for k, raw in enumerate(data["patients"]):
        where = f"patients[{k}]"
        opens, closes = (float(x) for x in raw["time_window"])
        if not (math.isfinite(opens) and math.isfinite(closes) and 0 <= opens <= closes):
            raise ValueError(f"{where}.time_window: needs 0 <= e <= l")
        services = []
        for need in raw["required_caregivers"]:
            service = need["service"]
            if service not in defaults:
                raise ValueError(f"{where}.required_caregivers: unknown service {service!r}")
            duration = float(need.get("duration", defaults[service]))
            if not (math.isfinite(duration) and duration >= 0):
                raise ValueError(f"{where}.required_caregivers: bad duration")
            services.append((service, duration))
        if len(services) not in (1, 2):
            raise ValueError(f"{where}.required_caregivers: one or two services")
        gap: tuple[float, float] | None = None
        if len(services) == 2:
            sync = raw["synchronization"]
            if sync["type"] == "sequential":
                low, high = (float(x) for x in sync["distance"])
                if not 0 <= low <= high:
                    raise ValueError(f"{where}.synchronization.distance: needs 0 <= min <= max")
                gap = (low, high)
            elif sync["type"] != "simultaneous":
                raise ValueError(f"{where}.synchronization.type: {sync['type']!r}")
        patients.append(Patient(str(raw["id"]), (opens, closes), tuple(services), gap))
    caregivers = tuple(
        (str(c["id"]), frozenset(str(a) for a in c["abilities"])) for c in data["caregivers"]
    )
    if not caregivers:
        raise ValueError("caregivers: none")
    distances = tuple(tuple(float(x) for x in row) for row in data["distances"])
    size = len(patients) + 1
    if len(distances) != size or any(len(row) != size for row in distances):
        raise ValueError(f"distances: expected a {size} x {size} matrix (depot + patients)")
    if any(not (math.isfinite(x) and x >= 0) for row in distances for x in row):
        raise ValueError("distances: every entry must be a finite number >= 0")
    return HhcrspInstance(name, tuple(patients), caregivers, distances, frozenset(defaults))


def scale_of(instance: HhcrspInstance) -> int:
    """Seconds of night per time unit: 1 when every number is whole, else 100 (the
    distances have three decimals; travel is rounded up to the hundredth, never optimistic)."""
    numbers = [x for row in instance.distances for x in row]
    for patient in instance.patients:
        numbers.extend(patient.window)
        numbers.extend(d for _, d in patient.services)
        numbers.extend(patient.gap or ())
    if all(float(x).is_integer() for x in numbers):
        return 1
    return 100


def _visit_id(patient: str, service: str) -> str:
    return f"{patient}:{service}"


def problem_from_hhcrsp(
    instance: HhcrspInstance, *, max_tardiness: float | None = None
) -> tuple[Problem, int]:
    """The instance as a night, and its ``scale`` (night seconds per instance time unit).

    Caregivers are nurses (abilities as skills, shift the whole 24-hour night, at the depot,
    location 0); each service of a patient is a planned visit with window ``[e, l]`` whose end
    is soft at 60 per minute (1 per second, as travel) up to ``l + max_tardiness`` (default:
    the night's end); a double service is two visits and a `Dependency` (simultaneous:
    ``[0, 0]`` by different nurses; sequential: ``[min, max]``).
    """
    scale = scale_of(instance)
    latest = max(p.window[1] for p in instance.patients) if instance.patients else 0
    if latest * scale > _HORIZON:
        raise ValueError(f"{instance.name}: windows end after {_HORIZON / scale:g} time units")
    shift = TimeWindow(start=0, end=_HORIZON)
    nurses = [
        Nurse(id=cid, skills=abilities, shift=shift, start_location=0, end_location=0)
        for cid, abilities in instance.caregivers
    ]
    visits: list[Visit] = []
    links: list[Dependency] = []
    for k, patient in enumerate(instance.patients):
        begin = math.ceil(patient.window[0] * scale)
        end = max(begin, math.floor(patient.window[1] * scale))
        tolerance = _HORIZON - end
        if max_tardiness is not None:
            tolerance = min(tolerance, math.floor(max_tardiness * scale))
        for service, duration in patient.services:
            visits.append(
                Visit(
                    id=_visit_id(patient.id, service),
                    client_ref=f"hhcrsp-{patient.id}",
                    location=k + 1,
                    service_seconds=math.ceil(duration * scale),
                    required_skills=frozenset({service}),
                    urgency="planned",
                    window=TimeWindow(start=begin, end=end),
                    late_tolerance_seconds=tolerance,
                    late_cost_per_minute=60,
                )
            )
        if len(patient.services) == 2:
            first, second = (_visit_id(patient.id, s) for s, _ in patient.services)
            if patient.gap is None:
                links.append(
                    Dependency(
                        first=first, second=second, min_seconds=0, max_seconds=0, nurse="different"
                    )
                )
            else:
                links.append(
                    Dependency(
                        first=first,
                        second=second,
                        min_seconds=math.ceil(patient.gap[0] * scale),
                        max_seconds=math.floor(patient.gap[1] * scale),
                        nurse="different",
                    )
                )
    matrix = [[x * scale for x in row] for row in instance.distances]
    problem = Problem(
        night=Night(start=_EPOCH, end=_EPOCH + timedelta(seconds=_HORIZON), timezone="UTC"),
        travel=[TravelMatrix(profile="car", seconds=matrix)],
        skills=instance.services,
        nurses=nurses,
        visits=visits,
        dependencies=links,
    )
    return problem, scale


def solution_from_plan(plan: Plan, scale: int) -> dict[str, Any]:
    """The plan in the UniUD solution format (times in the instance's unit)."""
    routes = []
    starts: dict[str, float] = {}
    for route in plan.routes:
        locations = []
        for step in route.steps:
            if step.type != StepType.VISIT or step.visit_id is None:
                continue
            patient, _, service = step.visit_id.partition(":")
            locations.append(
                {
                    "arrival_time": step.start / scale,
                    "departure_time": step.end / scale,
                    "patient": patient,
                    "service": service,
                }
            )
            starts[patient] = min(starts.get(patient, math.inf), step.start / scale)
        routes.append({"caregiver_id": route.nurse_id, "locations": locations})
    ordering = sorted(starts, key=lambda p: (starts[p], p))
    return {"global_ordering": ordering, "routes": routes}


@dataclass(frozen=True)
class HhcrspReport:
    """What the independent checker finds: feasibility and the objective's parts."""

    feasible: bool
    problems: tuple[str, ...]
    distance: float
    total_tardiness: float
    max_tardiness: float

    @property
    def cost(self) -> float:
        """The benchmark's objective: (distance + total tardiness + max tardiness) / 3."""
        return (self.distance + self.total_tardiness + self.max_tardiness) / 3


def check_hhcrsp(instance: HhcrspInstance, solution: Mapping[str, Any]) -> HhcrspReport:
    """Check a UniUD solution against the instance alone and compute its objective.

    Rules: every service of every patient done exactly once, by a caregiver with that ability,
    for its duration; no service before its window opens; each caregiver's route from the
    depot at time 0, each arrival no earlier than the previous departure plus the distance;
    double services by two different caregivers, simultaneous at the same moment, sequential
    with the second ``min..max`` after the first. Written apart from the solver on purpose.
    """
    problems: list[str] = []
    abilities = dict(instance.caregivers)
    patients = {p.id: (k + 1, p) for k, p in enumerate(instance.patients)}
    done: dict[tuple[str, str], tuple[float, str]] = {}
    distance = 0.0
    for route in solution.get("routes", []):
        cid = route.get("caregiver_id")
        if cid not in abilities:
            problems.append(f"unknown caregiver {cid!r}")
            continue
        here, clock = 0, 0.0
        for stop in route.get("locations", []):
            pid, service = stop.get("patient"), stop.get("service")
            if pid not in patients:
                problems.append(f"{cid}: unknown patient {pid!r}")
                continue
            row, patient = patients[pid]
            durations = dict(patient.services)
            if service not in durations:
                problems.append(f"{cid}: {pid} does not need {service}")
                continue
            if service not in abilities[cid]:
                problems.append(f"{cid} cannot perform {service}")
            if (pid, service) in done:
                problems.append(f"{pid}/{service} performed twice")
            start, leave = float(stop["arrival_time"]), float(stop["departure_time"])
            travel = instance.distances[here][row]
            distance += travel
            if start < clock + travel - _EPS:
                problems.append(f"{cid}: reaches {pid} at {start}, before {clock + travel:.3f}")
            if start < patient.window[0] - _EPS:
                problems.append(f"{pid}/{service} starts before its window opens")
            if abs(leave - start - durations[service]) > _EPS:
                problems.append(f"{pid}/{service}: wrong duration")
            done[(pid, service)] = (start, cid)
            here, clock = row, leave
        if here != 0:
            distance += instance.distances[here][0]
    tardiness: list[float] = []
    for pid, (_, patient) in patients.items():
        for service, _ in patient.services:
            if (pid, service) not in done:
                problems.append(f"{pid}/{service} not performed")
            else:
                tardiness.append(max(0.0, done[(pid, service)][0] - patient.window[1]))
        if len(patient.services) == 2 and all((pid, s) in done for s, _ in patient.services):
            (t1, c1), (t2, c2) = (done[(pid, s)] for s, _ in patient.services)
            if c1 == c2:
                problems.append(f"{pid}: both services by {c1}")
            low, high = patient.gap or (0.0, 0.0)
            if not low - _EPS <= t2 - t1 <= high + _EPS:
                problems.append(f"{pid}: second service {t2 - t1:.3f} after the first")
    return HhcrspReport(
        feasible=not problems,
        problems=tuple(problems),
        distance=distance,
        total_tardiness=sum(tardiness),
        max_tardiness=max(tardiness, default=0.0),
    )


@dataclass(frozen=True)
class HhcrspResult:
    """One instance solved: the checker's report, the UniUD solution, seconds, the method."""

    instance: str
    report: HhcrspReport
    solution: dict[str, Any]
    seconds: float
    method: str


def escalation_configs(construction: str, seed: int = 0) -> list[SearchConfig]:
    """The cold search of a tardy instance (`solve_hhcrsp`): guided local search on both
    cores from ``construction``, the first-plan strategy that placed every service at the
    smallest cap that had one, not always parallel cheapest insertion. Where that one left
    pairs out (a cycle of simultaneous pairs: D1, E1), its plan at the tighter cap starts
    with them out and the search rarely places them: E1 started 6 services out and the
    loosened searches still had 4 out at 480, so the 30 s went to the search from the
    complete first plan (2172); from local cheapest cost insertion 1 was out and every
    service was in a rung later. Old and new alternating, 30 s, load 12-22, two rounds:
    E1 2186 / 2029 -> 1509 / 1522; D1 even (1708 / 1695 -> 1689 / 1709); D2 and K50-80
    better, C1 and C2 worse (C2 581-589 -> 611), K75-97 either way."""
    return [
        SearchConfig(label=f"gls-s{seed + k}", seed=seed + k, first_solution=construction)
        for k in (0, 1)
    ]


def solve_hhcrsp(
    instance: HhcrspInstance,
    *,
    time_limit: float,
    seed: int = 0,
    processes: int | None = None,
) -> HhcrspResult:
    """Solve with `optimizer.solve` within about ``time_limit`` wall-clock seconds.

    The maximum tardiness is in the objective but not in the solver's (a sum of arc and
    per-visit costs), and a window end soft to the night's end lets the first plan put
    visits hours late (measured at 10 s: E2 7254 against 944 with every end hard). So the
    tardiness is capped, through the visits' ``late_tolerance_seconds``: a binary search over
    caps of 0 to 6 window widths, with first plans only (quick), finds the smallest whose
    first plan has every service. With no tardiness needed the search runs at cap 0. Else
    the search starts `_TIGHTER_RUNGS` rungs tighter, services allowed out, from the
    construction that placed every service (`escalation_configs`; a search places
    what its construction could not, and a tight cap keeps the lateness of all the others
    down: C1 at 10 s, 1.5 widths, total tardiness 712 with one pair out against 1356 from
    the complete plan), and loosens the cap a rung at a time while a service is out, each
    search continuing from the last plan (`optimizer.solve`'s warm start). When a service is
    still out one rung past the construction's cap, the time left goes to the search from
    that complete first plan (not a new construction: that took seconds on E1). With no
    tardiness needed, `_ZERO_SHARE` of the time searches at cap 0 and the rest goes on from
    that plan one rung looser (a little tardiness can buy a shorter route). Once every
    service is in, half the time left searches at that cap and the rest one rung looser (a
    larger maximum can buy a smaller total). The independent checker scores every complete
    plan; the cheapest is kept.
    """
    began = time.monotonic()
    widths = sorted(p.window[1] - p.window[0] for p in instance.patients) or [0.0]
    width = max(1.0, widths[len(widths) // 2])
    ladder: list[float | None] = [
        *(width * k for k in (0, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 6)),
        None,
    ]

    def left() -> float:
        return time_limit - (time.monotonic() - began)

    # Constructions tried per cap: parallel cheapest insertion is the quickest; with many
    # simultaneous pairs it can close a cycle of "both at once" it cannot insert into and
    # leave a pair out, where local cheapest cost insertion places it (D1, cap 3 widths:
    # 3 services left out against none).
    constructions = ("PARALLEL_CHEAPEST_INSERTION", "LOCAL_CHEAPEST_COST_INSERTION")

    best: tuple[HhcrspReport, dict[str, Any], str] | None = None
    #: The complete first plan found at each rung: a search can continue from it rather
    #: than construct again (local cheapest cost insertion takes seconds on 100 patients).
    firsts: dict[int, Plan] = {}
    searched: dict[int, Plan] = {}  # the complete plan of the search at a rung

    def keep(problem: Problem, plan: Plan, scale: int, cap: float | None) -> bool:
        """Score a plan with every service by the checker; keep it if it is the cheapest."""
        nonlocal best
        if plan.unassigned or check(problem, plan):
            return False
        solution = solution_from_plan(plan, scale)
        report = check_hhcrsp(instance, solution)
        if report.feasible and (best is None or report.cost < best[0].cost):
            method = plan.stats.method if plan.stats is not None else ""
            cap_text = "none" if cap is None else f"{cap:g}"
            best = (report, solution, f"{method}; tardiness cap {cap_text}")
        return True

    def places_all(rung: int) -> str | None:
        """The first construction that plans every service under ``ladder[rung]`` (kept as
        a fallback answer: a complete first plan is a feasible solution)."""
        problem, scale = problem_from_hhcrsp(instance, max_tardiness=ladder[rung])
        for name in constructions:
            first = solve(
                problem,
                time_limit=max(0.5, left() / 4),
                first_only=True,
                processes=1,
                configs=[SearchConfig(first_solution=name)],
            )
            if keep(problem, first, scale, ladder[rung]):
                firsts[rung] = first
                return name
        return None

    # Binary search over the capped rungs (a few probes, not one per rung: local cheapest
    # cost insertion takes seconds on 75 patients). Without a cap at all the constructions
    # left pairs out too (D1), so an unresolved search falls back to the loosest cap.
    low, high = 0, len(ladder) - 2
    chosen, construction = high, constructions[-1]
    # No tardiness at all first: most instances allow it (and a construction with every end
    # hard is the best start: F2 at 30 s +39.7 % from cap 0 against +489 % from 1.5 widths).
    name = places_all(0)
    if name is not None:
        chosen, construction, high = 0, name, -1
    else:
        low = 1
    while low <= high and left() > 0.6 * time_limit:
        middle = (low + high) // 2
        name = places_all(middle)
        if name is None:
            low = middle + 1
        else:
            chosen, construction, high = middle, name, middle - 1

    def attempt(rung: int, budget: float) -> bool:
        problem, scale = problem_from_hhcrsp(instance, max_tardiness=ladder[rung])
        configs = [replace(c, first_solution=construction) for c in default_portfolio()]
        plan = solve(
            problem,
            time_limit=max(0.5, budget),
            seed=seed,
            processes=processes,
            configs=configs,
        )
        if keep(problem, plan, scale, ladder[rung]):
            searched[rung] = plan
            return True
        return False

    def escalate(rung: int) -> bool:
        """Search with services allowed out at a cap tighter than the construction needed,
        then loosen it a rung at a time, each search continuing from the last plan, until
        every service is in; then search on at that cap for the time left. False when a
        service is still out one rung past the construction's cap (a pair the one-visit
        moves cannot place: E1, D1), leaving the rest of the time to the search from that
        construction."""
        problem, scale = problem_from_hhcrsp(instance, max_tardiness=ladder[rung])
        plan = solve(
            problem,
            time_limit=max(0.5, _COLD_SHARE * left()),
            seed=seed,
            processes=processes,
            configs=escalation_configs(construction, seed),
        )
        complete = keep(problem, plan, scale, ladder[rung])
        settled = 0  # searches since the first plan with every service
        while left() > 0.5:
            if not complete:
                if rung > chosen or rung == len(ladder) - 1:
                    return False
                rung += 1
            elif settled == 1 and rung < len(ladder) - 1:
                # One rung looser still, from the complete plan: a larger maximum can buy
                # a smaller total (K50-80's best known is 100 past our cap, with less total).
                rung += 1
            problem, scale = problem_from_hhcrsp(instance, max_tardiness=ladder[rung])
            budget = left() / 2 if complete and settled == 0 else left()
            if not complete:
                budget = _STEP_SHARE * left()
            plan = solve(problem, time_limit=max(0.5, budget), warm_start=plan, seed=seed)
            settled += complete
            complete = keep(problem, plan, scale, ladder[rung]) or complete
        return complete

    def resume(rung: int) -> None:
        """Search on from the complete first plan found at ``rung``, for the time left."""
        problem, scale = problem_from_hhcrsp(instance, max_tardiness=ladder[rung])
        plan = solve(problem, time_limit=max(0.5, left()), warm_start=firsts[rung], seed=seed)
        keep(problem, plan, scale, ladder[rung])

    if chosen == 0:
        # No tardiness needed, but a little can buy a shorter route (the best known of A2,
        # C2, E2, F1 have some): the search at cap 0, then on from its plan one rung looser.
        attempt(0, _ZERO_SHARE * left())
        if 0 in searched and left() > 0.5:
            problem, scale = problem_from_hhcrsp(instance, max_tardiness=ladder[1])
            plan = solve(problem, time_limit=max(0.5, left()), warm_start=searched[0], seed=seed)
            keep(problem, plan, scale, ladder[1])
    elif left() < 1 or not escalate(max(0, chosen - _TIGHTER_RUNGS)):
        if chosen in firsts and left() > 0.5:
            resume(chosen)
        else:
            for rung in range(chosen, len(ladder)):
                if left() < 0.5 or attempt(rung, left()):
                    break
    seconds = time.monotonic() - began
    if best is None:
        empty = HhcrspReport(False, ("no plan with every service",), math.inf, math.inf, math.inf)
        return HhcrspResult(instance.name, empty, {"routes": []}, seconds, "")
    report, solution, method = best
    return HhcrspResult(instance.name, report, solution, seconds, method)


def published_cost(instance: HhcrspInstance, solution_path: str | Path) -> HhcrspReport:
    """The checker's report on a published solution file (for tests and the benchmark)."""
    return check_hhcrsp(instance, json.loads(Path(solution_path).read_text(encoding="utf-8")))


def results_line(result: HhcrspResult) -> dict[str, Any]:
    """The issue's JSON line for one instance."""
    report = result.report
    return {
        "instance": result.instance,
        "cost": round(report.cost, 3),
        "distance": round(report.distance, 3),
        "tardiness": round(report.total_tardiness, 3),
        "max_tardiness": round(report.max_tardiness, 3),
        "seconds": round(result.seconds, 2),
        "feasible": report.feasible,
        "solution": result.solution,
    }


def rows(values: Sequence[HhcrspResult]) -> list[dict[str, Any]]:
    """`results_line` for each result."""
    return [results_line(v) for v in values]
