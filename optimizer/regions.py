"""Splitting a large night into regions whose first plans can be built one by one.

OR-Tools' parallel cheapest insertion tries every open visit at every place in every route,
with the break, bag and two-person filters on each trial, so its time grows faster than the
night: the generated 50 x 1000 night took 4.3 s on an idle machine and 6-8 s on a loaded one,
against 0.5 s for 10 x 200. Cut into sectors around the base (the sweep of Gillett and
Miller), each with its share of the team, it is three nights of about 17 x 333, each planned
by the same model and construction, so every rule holds in each; since every rule is per
nurse or per visit (two-person visits, pins and en-route visits stay inside one region with
their nurses) the routes put together are a plan of the whole night.

What a region cannot see (a visit its own nurses cannot fit but a neighbour's could) is left
to the search: the split builds only the quick first plan (`solve(..., first_only=True)`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from optimizer import timeline
from optimizer.eligibility import eligible_nurses
from optimizer.model import Nurse, Problem, Visit, VisitState

__all__ = [
    "FIRST_PLAN_SPLIT_FROM",
    "PIECE_VISITS",
    "REGION_VISITS",
    "SPLIT_FROM",
    "Region",
    "regions",
]

#: Open visits per region (a night of fewer than twice this is planned whole). Measured on
#: generated 50 x 1000 nights, seeds 0-2, load about 4 (first plan / visits left out):
#: whole 7.4 / 4.9 / 7.7 s, 178 / 198 / 158; regions of 333: 1.0 / 1.2 / 1.2 s, 172 / 187 /
#: 165; of 500: 1.8 / 1.9 / 1.9 s, 169 / 186 / 169; of 250: 0.9 / 0.7 / 1.1 s, 176 / 188 /
#: 170; of 100: 181 left out on seed 0. Construction grows faster than the visits in it.
REGION_VISITS = 300
#: Open visits from which a night is split (into at least two regions). A live 50 x 1000
#: night at 03:12 (420 open visits, every one on a phone) took 23.7 s to its first plan
#: whole and 9.7 s in two regions (load 12-13; 16 visits left out against 24).
SPLIT_FROM = 400
#: The same for a first plan alone (`solve(..., first_only=True)`, the quick answer), which
#: no search follows. Measured on generated 10 x 200 nights, seeds 0-5, in one run
#: (load 7, CPU seconds / visits left out / objective, whole against two regions): CPU
#: 0.43 / 0.35 / 0.36 / 0.32 / 0.33 / 0.36 s against 0.18 / 0.15 / 0.16 / 0.12 / 0.15 / 0.16
#: s; left out 154 against 148 in all; objectives summed 2.6 % higher in regions (per seed
#: -24 % to +27 %).
FIRST_PLAN_SPLIT_FROM = 150
#: Open visits per piece of a region whose construction the clock stopped
#: (`region_search.RegionPlans.first_plan`). Measured on the generated 50 x 1000 night, seed
#: 0, load 11 (CPU seconds of all first plans / visits left out): regions of 333 0.78 s / 167,
#: of 200 0.45 / 183, of 100 0.26 / 184, of 60 0.24 / 204. Small pieces cost a third of the
#: time for a few visits more left out, and each finishes in a few hundredths of a second.
PIECE_VISITS = 100


@dataclass(slots=True)
class Region:
    """Some nurses and the open visits they plan on their own."""

    nurses: list[Nurse] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)


def regions(
    problem: Problem,
    open_visits: Sequence[Visit],
    departures: dict[str, timeline.Departure],
    *,
    size: int = REGION_VISITS,
    split_from: int = SPLIT_FROM,
) -> list[Region] | None:
    """The night cut into sectors of about ``size`` open visits around the base, each with
    its share of the nurses; ``None`` below ``split_from`` open visits (too small to gain from
    a split) or when it cannot be split safely.

    Needs coordinates (``Problem.locations``). Each region gets nurses in proportion to its
    visits, skills dealt evenly; a visit pinned to a nurse or being driven to goes with her
    nurse, one already on a nurse's phone too where that region may do it, a visit no nurse
    of its sector may do goes to the nearest sector with one, a two-person visit to one with
    two.
    """
    if len(open_visits) < max(2, split_from):
        return None
    count = max(2, round(len(open_visits) / size))
    nurses = problem.nurses
    if not problem.locations or len(nurses) < 2 * count:
        return None
    base = problem.locations[problem.night.base_location]
    scale = math.cos(math.radians(base.lat))

    def angle(location: int) -> float:
        point = problem.locations[location]
        return math.atan2(point.lat - base.lat, (point.lon - base.lon) * scale)

    swept = sorted(open_visits, key=lambda v: (angle(v.location), v.id))
    # Start the sweep at the widest empty sector, so no region straddles a dense cut.
    angles = [angle(v.location) for v in swept]
    gaps = [(angles[(i + 1) % len(angles)] - angles[i]) % (2 * math.pi) for i in range(len(angles))]
    first = (max(range(len(gaps)), key=gaps.__getitem__) + 1) % len(swept)
    swept = swept[first:] + swept[:first]
    cut = [round(k * len(swept) / count) for k in range(count + 1)]
    sectors = [swept[cut[k] : cut[k + 1]] for k in range(count)]

    parts = [Region() for _ in range(count)]
    # Nurses dealt in proportion to the work, each skill set spread over the regions.
    work = [sum(v.service_seconds * v.nurses_needed for v in sector) or 1 for sector in sectors]
    total = sum(work)
    wanted = [len(nurses) * w / total for w in work]
    # A nurse whose phone already shows visits (a live night) goes to the sector with most of
    # them while it still needs nurses, so her visits can stay hers (`_home`).
    shown: dict[str, list[int]] = {}
    for k, sector in enumerate(sectors):
        for visit in sector:
            if visit.published_nurse is not None:
                shown.setdefault(visit.published_nurse, [0] * count)[k] += 1
    for nurse in sorted(nurses, key=lambda n: (sorted(n.skills), n.id)):
        k = max(range(count), key=lambda k: (wanted[k] - len(parts[k].nurses), -k))
        if nurse.id in shown:
            mine = max(range(count), key=shown[nurse.id].__getitem__)
            if wanted[mine] - len(parts[mine].nurses) > 0:
                k = mine
        parts[k].nurses.append(nurse)
    region_of = {n.id: k for k, part in enumerate(parts) for n in part.nurses}
    for k, sector in enumerate(sectors):
        for visit in sector:
            home = _home(problem, visit, region_of, parts, k)
            if home is None:
                return None
            parts[home].visits.append(visit)
    if not _links_kept_together(problem, parts, region_of):
        return None
    return [part for part in parts if part.visits or part.nurses]


def _links_kept_together(problem: Problem, parts: list[Region], region_of: dict[str, int]) -> bool:
    """Bring the two visits of each dependency into one region (a gap is a rule across
    routes, which a region planned on its own cannot keep): the second joins the first, or
    the first the second, whichever may move; ``False`` when neither may (the night is then
    planned whole)."""
    where = {v.id: k for k, part in enumerate(parts) for v in part.visits}
    for link in problem.dependencies:
        first, second = where.get(link.first), where.get(link.second)
        if first is None or second is None or first == second:
            continue
        for moved, into in ((link.second, first), (link.first, second)):
            # The open visit itself (a live re-plan may have narrowed its window).
            visit = next(v for v in parts[where[moved]].visits if v.id == moved)
            if _may_join(problem, visit, into, region_of):
                parts[where[moved]].visits.remove(visit)
                parts[into].visits.append(visit)
                where[moved] = into
                break
        else:
            return False
    return True


def _may_join(problem: Problem, visit: Visit, region: int, region_of: dict[str, int]) -> bool:
    """Whether ``visit`` may be planned in ``region``: not tied to a nurse elsewhere (a pin,
    en route, or on her phone) and as many nurses there as it needs may do it (two for a
    two-person visit, which links may now name)."""
    if visit.pin is not None or visit.state == VisitState.EN_ROUTE:
        return False
    if visit.published_nurse in region_of and region_of[visit.published_nurse] != region:
        return False
    able = sum(region_of[n.id] == region for n in eligible_nurses(problem, visit))
    return able >= visit.nurses_needed


def _home(
    problem: Problem, visit: Visit, region_of: dict[str, int], parts: list[Region], sector: int
) -> int | None:
    """The region that plans ``visit``: its nurse's if it is tied to one, else its sector's
    if that has enough nurses who may do it, else the nearest sector that has."""
    tied = visit.pin.nurse if visit.pin is not None else None
    if visit.state == VisitState.EN_ROUTE:
        tied = visit.assigned_nurses[0]
    if tied is not None:
        return region_of[tied]
    able: dict[int, int] = {}
    for nurse in eligible_nurses(problem, visit):
        able[region_of[nurse.id]] = able.get(region_of[nurse.id], 0) + 1
    shown = visit.published_nurse
    # On her phone already: moving it costs stability, so it stays with her if it can.
    if shown in region_of and able.get(region_of[shown], 0) >= visit.nurses_needed:
        return region_of[shown]
    count = len(parts)
    for step in range(count):
        for k in ((sector + step) % count, (sector - step) % count):
            if able.get(k, 0) >= visit.nurses_needed:
                return k
    # No region has enough nurses who may do it (a two-person visit whose able nurses were
    # dealt apart): the night is planned whole rather than leave it out for a wrong reason.
    return None
