"""A large night planned region by region (`optimizer.regions`) and each region searched
again with the time left (`RegionPlans`), side by side in forked processes when the regions
are independent.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from typing import Any

from optimizer import timeline
from optimizer.assemble import plan_from_routes
from optimizer.checker import check
from optimizer.eligibility import eligible_nurses
from optimizer.model import Problem, Visit, VisitState
from optimizer.night_search import Found, search_once
from optimizer.regions import PIECE_VISITS, SPLIT_FROM, Region, regions
from optimizer.routing_model import FIXED_SLOT_THRESHOLD
from optimizer.search import SearchConfig

__all__ = ["RegionPlans", "first_plan_by_regions", "first_plan_in_pieces"]

#: Wall-clock cap of one piece's construction (`RegionPlans.build_in_pieces`), a safety only:
#: a piece of `regions.PIECE_VISITS` visits is built in a few hundredths of a second.
_PIECE_CAP_SECONDS = 10.0


class RegionPlans:
    """A large night planned region by region (`optimizer.regions`), and re-planned a region
    at a time with the visits its neighbours left out.

    Every rule is per nurse or per visit, and a region holds both copies of its two-person
    visits and the nurse of each pinned or en-route visit, so the regions' routes together are
    a plan of the night and their objectives add up to its objective. Two-person visits get
    the slot the whole night would give them (`routing_model.FIXED_SLOT_THRESHOLD`).

    A visit a region leaves out is tried by both neighbouring regions (along the sweep)
    before the first plan is returned, where they have room (left out none of their own), and
    again in each later pass (`improve`): a region's own nurses being full says nothing about
    the next region's, so "no nurse has room" is only said after they were tried. A visit
    may move to a region when nothing ties it to a nurse elsewhere (a pin, en route, on her
    phone, a dependency) and that region has as many nurses who may do it as it needs.
    """

    def __init__(
        self,
        problem: Problem,
        parts: Sequence[Region],
        departures: dict[str, timeline.Departure],
        fixed_slots: bool,
    ) -> None:
        self.problem = problem
        self.departures = departures
        self.fixed_slots = fixed_slots
        self.nurses = [list(part.nurses) for part in parts]
        #: The open visits each region answers for: those it plans and those it left out.
        self.visits = [list(part.visits) for part in parts]
        self.found: list[Found | None] = [None] * len(parts)
        #: Each region's objective counting only its own visits' omission penalties.
        self.cost = [0] * len(parts)
        self.region_of = {n.id: k for k, nurses in enumerate(self.nurses) for n in nurses}
        #: Visits a region's construction never tried (the clock stopped it first).
        self.untried: set[str] = set()
        self.moved = 0
        #: Regions whose first plan was built in pieces (`build_in_pieces`): out of time.
        self.in_pieces = 0

    def __len__(self) -> int:
        return len(self.nurses)

    def left_out(self, k: int) -> list[Visit]:
        """Region ``k``'s visits its current plan does not have (all of them before it has one)."""
        found = self.found[k]
        if found is None or found.sequences is None:
            return list(self.visits[k])
        placed = {key for sequence in found.sequences.values() for key in sequence}
        return [v for v in self.visits[k] if v.id not in placed]

    def own_problem(self, k: int) -> Problem:
        """The night as region ``k`` plans it: every visit, only its own nurses."""
        return self.problem.model_copy(update={"nurses": self.nurses[k]})

    def _may_move(self, visit: Visit, k: int) -> bool:
        problem = self.problem
        if visit.pin is not None or visit.state == VisitState.EN_ROUTE:
            return False
        if problem.dependencies_of(visit.id):
            return False
        shown = visit.published_nurse
        if shown in self.region_of and self.region_of[shown] != k:
            return False
        able = sum(1 for n in eligible_nurses(problem, visit) if self.region_of[n.id] == k)
        return able >= visit.nurses_needed

    def plan(
        self,
        k: int,
        neighbours: Sequence[int],
        config: SearchConfig,
        deadline: float,
        *,
        first_only: bool,
    ) -> None:
        """Plan region ``k`` again with the visits ``neighbours`` leave out that it may do;
        keep the new plan when it costs no more (the visits it leaves out counted at their
        omission penalty), moving the neighbours' visits it placed into region ``k``."""
        extra = self.extras(k, neighbours, first_only=first_only)
        if extra is None:
            return
        self.accept(k, extra, self.search(k, extra, config, deadline, first_only=first_only))

    def extras(self, k: int, neighbours: Sequence[int], *, first_only: bool) -> list[Visit] | None:
        """The visits ``neighbours`` leave out that region ``k`` may take in; ``None`` when
        there is nothing to try (a first plan's pass into a full region)."""
        extra = [
            v
            for j in dict.fromkeys(neighbours)
            if j != k
            for v in self.left_out(j)
            if v.id not in self.untried and self._may_move(v, k)
        ]
        if self.found[k] is not None and self.left_out(k):
            # A region whose plan leaves out visits of its own has no room that another
            # construction would find for a neighbour's. (On the generated 50 x 1000 nights,
            # where every region is full, trying anyway doubled the first plan's CPU time,
            # 0.75 -> 1.35 s, and was never kept; in the later search a region given its
            # neighbours' visits started from a construction so much worse that the search
            # never caught up, load 15.) It is searched with its own visits.
            return None if first_only else []
        return extra

    def search(
        self,
        k: int,
        extra: Sequence[Visit],
        config: SearchConfig,
        deadline: float,
        *,
        first_only: bool,
        solution_limit: int | None = None,
    ) -> Found:
        """Region ``k``'s visits and ``extra`` planned by its own nurses until ``deadline``
        (``time.monotonic()``) or ``solution_limit`` solutions (a repeatable run)."""
        own = self.own_problem(k)
        # The search without the scheduling LP: on a 333-visit region with breaks each move
        # it checks is a CP-SAT model per route, and the construction's plan (built without
        # it) often failed to restore into the search with it (ROUTING_FAIL, load 15).
        return search_once(
            own,
            [*self.visits[k], *extra],
            self.departures,
            config,
            deadline,
            first_only,
            solution_limit,
            self.fixed_slots,
            scheduling=False,
        )

    def _violations(self, k: int, found: Found) -> int:
        """How many rules region ``k``'s plan ``found`` breaks, by the independent checker on
        the region's own nurses (the same yardstick for every plan of one region)."""
        assert found.sequences is not None
        own = self.own_problem(k)
        plan = plan_from_routes(
            own, found.sequences, not_before=found.starts, break_starts=found.break_starts
        )
        return len(check(own, plan))

    def accept(self, k: int, extra: Sequence[Visit], found: Found | None) -> None:
        """Keep ``found`` as region ``k``'s plan if it costs no more than the current one and
        breaks no rule the current one keeps."""
        if found is None or found.sequences is None:
            return
        current = self.found[k]
        if current is not None and self._violations(k, found) > self._violations(k, current):
            # A plan that breaks rules is never kept for a cheaper one. (Seen on a 14-nurse
            # night with links: the search traded a call a nurse was driving to for visits it
            # kept out, and the layout put the call back in front; the model now keeps such
            # calls, `NightModel._keep_penalty`. This stays as the last guard.)
            return
        classes = self.problem.urgency_classes

        def penalty(visit: Visit) -> int:
            return classes[visit.urgency].omission_penalty * visit.nurses_needed

        objective = found.objective or 0
        if self.found[k] is not None and objective > self.cost[k] + sum(map(penalty, extra)):
            return  # the neighbours' visits are counted as left out either way
        self.found[k] = found
        placed = {key for sequence in found.sequences.values() for key in sequence}
        taken = {v.id for v in extra if v.id in placed}
        self.cost[k] = objective - sum(penalty(v) for v in extra if v.id not in taken)
        if taken:
            self.moved += len(taken)
            for j in range(len(self)):
                if j != k:
                    self.cost[j] -= sum(penalty(v) for v in self.visits[j] if v.id in taken)
                    self.visits[j] = [v for v in self.visits[j] if v.id not in taken]
            self.visits[k].extend(v for v in extra if v.id in taken)
        if found.cut_short:
            self.untried |= {v.id for v in self.visits[k] if v.id not in placed}
        else:
            self.untried -= {v.id for v in self.visits[k]}

    def first_plan(self, config: SearchConfig, deadline: float) -> bool:
        """Build every region's first plan, then let each region with room try the visits
        its neighbours left out; ``False`` when a region found no plan at all (the caller
        then plans the night whole).

        Each region has its share of the time left until ``deadline``; one whose
        construction that share cut short, and every region after it, is built in small
        pieces to the end instead (`build_in_pieces`), so a short limit never leaves a
        region untried."""
        count = len(self)
        cut = False
        for k in range(count):
            now = time.monotonic()
            if not cut and deadline > now:
                # Its share of the time left: an OR-Tools construction the clock stops places
                # nothing at all, so one region given the whole budget left every region
                # without a plan (the 50 x 1000 night at 1 s: 913 of 1000 visits left out).
                self.plan(k, [], config, now + (deadline - now) / (count - k), first_only=True)
            if self.found[k] is None or self._cut_short(k):
                # Out of time: this region, and every later one, built in small pieces to
                # the end (`build_in_pieces`), the cheaper construction that always finishes.
                cut = True
                self.build_in_pieces(k, config)
            if self.found[k] is None:
                return False
        for k in range(count):
            if deadline <= time.monotonic():
                break
            self.plan(k, [(k - 1) % count, (k + 1) % count], config, deadline, first_only=True)
        return True

    def _cut_short(self, k: int) -> bool:
        found = self.found[k]
        return found is not None and found.cut_short

    def build_in_pieces(
        self, k: int, config: SearchConfig, pieces: list[Region] | None = None
    ) -> None:
        """Region ``k``'s first plan built as pieces of about `regions.PIECE_VISITS` visits,
        each with its share of the region's nurses, each construction run to its end
        whatever the clock says (capped at `_PIECE_CAP_SECONDS`, a safety only).

        The floor of an anytime answer: a short time limit may stop the better construction
        of a whole region, but never leaves its visits untried while a construction of a
        third of its cost (`regions.PIECE_VISITS`) places nearly all of them. Bounded work:
        on the 50 x 1000 night all three regions in pieces take about 0.26 CPU-s.
        """
        if pieces is None:
            own = self.own_problem(k)
            pieces = regions(own, self.visits[k], self.departures, size=PIECE_VISITS, split_from=2)
        if pieces is None:  # too few nurses (or no coordinates) to split: the region whole
            pieces = [Region(nurses=list(self.nurses[k]), visits=list(self.visits[k]))]
        classes = self.problem.urgency_classes
        sequences: dict[str, list[str]] = {}
        starts: dict[tuple[str, int], int] = {}
        break_starts: dict[str, int] = {}
        objective = 0
        cut_short = False
        for piece in pieces:
            found = search_once(
                self.problem.model_copy(update={"nurses": piece.nurses}),
                piece.visits,
                self.departures,
                config,
                time.monotonic() + _PIECE_CAP_SECONDS,
                True,
                None,
                self.fixed_slots,
                scheduling=False,
            )
            if found.sequences is None or found.objective is None:
                cut_short = True  # nothing within the cap: its visits were never placed
                objective += sum(
                    classes[v.urgency].omission_penalty * v.nurses_needed for v in piece.visits
                )
                continue
            sequences.update(found.sequences)
            starts.update(found.starts or {})
            break_starts.update(found.break_starts or {})
            objective += found.objective
            cut_short = cut_short or found.cut_short
        self.in_pieces += 1
        self.accept(
            k,
            [],
            Found(
                method=f"or-tools: {config.first_solution} in {len(pieces)} pieces",
                objective=objective,
                sequences=sequences,
                starts=starts,
                break_starts=break_starts,
                cut_short=cut_short,
            ),
        )

    def improve(self, config: SearchConfig, deadline: float, *, processes: int = 1) -> None:
        """Search each region again with the time left, taking in the visits both of its
        neighbours leave out where it has room.

        When no region takes in a neighbour's visits (every region full, as on the generated
        nights) the regions are independent, and with ``processes`` > 1 they are searched
        side by side in forked processes, each for the time left divided by the rounds they
        need; otherwise one after the other, each with an equal share.
        """
        count = len(self)
        around = [[(k - 1) % count, (k + 1) % count] for k in range(count)]
        extras = [self.extras(k, around[k], first_only=False) for k in range(count)]
        if processes > 1 and count > 1 and not any(extras):
            rounds = -(-count // processes)
            share = (deadline - time.monotonic()) / rounds
            if share < 0.1:
                return
            token = id(self)
            _REGIONS[token] = self
            try:
                found = _run_each(
                    _region_worker,
                    [(token, k, config, share) for k in range(count)],
                    processes=processes,
                    timeout=deadline - time.monotonic() + max(0.5, 0.1 * share),
                )
            finally:
                del _REGIONS[token]
            for k, answer in enumerate(found):
                self.accept(k, [], answer)
            return
        for k in range(count):
            now = time.monotonic()
            share = (deadline - now) / (count - k)
            if share < 0.1:
                break
            self.plan(k, around[k], config, now + share, first_only=False)

    def result(self, method: str) -> Found:
        """The regions' plans as one plan of the night."""
        classes = self.problem.urgency_classes
        sequences: dict[str, list[str]] = {}
        starts: dict[tuple[str, int], int] = {}
        break_starts: dict[str, int] = {}
        objective = 0
        status = ""
        for k, found in enumerate(self.found):
            if found is None or found.sequences is None:
                objective += sum(
                    classes[v.urgency].omission_penalty * v.nurses_needed for v in self.visits[k]
                )
                continue
            sequences.update(found.sequences)
            starts.update(found.starts or {})
            break_starts.update(found.break_starts or {})
            objective += self.cost[k]
            status = status or found.status
        return Found(
            method=method,
            objective=objective,
            status=status,
            sequences=sequences,
            starts=starts,
            break_starts=break_starts,
            cut_short=bool(self.untried),
        )


#: The region plans a forked worker searches, keyed by a token (fork hands them over).
_REGIONS: dict[int, RegionPlans] = {}


def _region_worker(token: int, k: int, config: SearchConfig, seconds: float) -> Found:
    """Search region ``k`` of the registered `RegionPlans` for ``seconds`` from now (a
    region waiting for a free core starts its clock when it starts)."""
    plans = _REGIONS[token]
    return plans.search(k, [], config, time.monotonic() + seconds, first_only=False)


def _run_each(
    worker: Callable[..., Found],
    jobs: Sequence[tuple[Any, ...]],
    *,
    processes: int,
    timeout: float,
) -> list[Found | None]:
    """``worker(*job)`` for every job in forked processes, each answer in job order; ``None``
    for a job that failed or had not answered when ``timeout`` (seconds) ran out."""
    context = multiprocessing.get_context("fork")
    deadline = time.monotonic() + timeout
    answers: list[Found | None] = []
    pool = context.Pool(processes)
    try:
        pending = [pool.apply_async(worker, job) for job in jobs]
        for future in pending:
            try:
                answers.append(future.get(max(0.0, deadline - time.monotonic())))
            except Exception:  # a killed or failed region keeps its plan
                answers.append(None)
    finally:
        pool.terminate()
        pool.join()
    return answers


def first_plan_by_regions(
    problem: Problem,
    open_visits: Sequence[Visit],
    departures: dict[str, timeline.Departure],
    config: SearchConfig,
    deadline: float,
    *,
    split_from: int = SPLIT_FROM,
) -> RegionPlans | None:
    """The first plan of a large night built region by region (`RegionPlans`); ``None`` when
    the night is not split or a region found no plan in time (the caller then builds it
    whole). The regions run one after the other in this process: forking them measured no
    faster on the loaded 2-core machine, and each takes a few tenths of a second.
    """
    parts = regions(problem, open_visits, departures, split_from=split_from)
    if parts is None:
        return None
    plans = RegionPlans(problem, parts, departures, len(open_visits) > FIXED_SLOT_THRESHOLD)
    if not plans.first_plan(config, deadline):
        return None
    return plans


def first_plan_in_pieces(
    problem: Problem,
    open_visits: Sequence[Visit],
    departures: dict[str, timeline.Departure],
    config: SearchConfig,
) -> Found | None:
    """The whole night's first plan built in pieces of about `regions.PIECE_VISITS` visits,
    each to its end (`RegionPlans.build_in_pieces`): what a search whose own construction
    the clock stopped answers with instead. ``None`` when the night cannot be cut into
    pieces (no coordinates, too few nurses)."""
    pieces = regions(problem, open_visits, departures, size=PIECE_VISITS, split_from=2)
    if pieces is None:
        return None
    whole = Region(nurses=list(problem.nurses), visits=list(open_visits))
    plans = RegionPlans(problem, [whole], departures, len(open_visits) > FIXED_SLOT_THRESHOLD)
    plans.build_in_pieces(0, config, pieces)
    if plans.found[0] is None:
        return None
    return plans.result(
        f"or-tools: {config.first_solution} in {len(pieces)} pieces"
        " (out of time for a construction of the whole night)"
    )
