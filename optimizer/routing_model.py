"""The OR-Tools routing model of one night: nodes, dimensions, rules.

The model, briefly (why each part is shaped as it is):

- one node per visit (two for a two-person visit, one per nurse), one start and one end node
  per nurse, and optional restock nodes at the base;
- travel and service come in as matrices (`RegisterTransitMatrix`), never per-arc Python
  callbacks, so the search runs at C++ speed;
- a time dimension whose slack is waiting; planned windows are hard cumul ranges, urgency
  targets are soft upper bounds whose cost per minute is set by the urgency class;
- every visit sits in a disjunction whose penalty ranks it by urgency, so a visit is left out
  only when nothing else is feasible, and then with a reason;
- skills and pins restrict a node's vehicles; a pinned position is an exact cumul on a visit
  counter; a two-person visit's copies go to different nurses and start within the tolerance;
- a dependency (B starts min..max after A) is two constraints on the time cumuls (per pair of
  copies when one is a two-person visit), plus a different- or same-nurse constraint on their
  vehicles;
- the night bag is one capacity dimension per item, and a restock node's slack refills it;
- breaks are OR-Tools break intervals on the time dimension;
- stability (moving a visit a nurse already has on her phone) is a per-nurse unary cost on
  a dimension whose span is paid for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp

from optimizer import timeline
from optimizer.eligibility import eligible_nurses
from optimizer.model import Problem, Visit, VisitState

__all__ = ["END", "FIXED_SLOT_THRESHOLD", "RESTOCK", "START", "VISIT", "NightModel", "Node"]

START, END, VISIT, RESTOCK = "start", "end", "visit", "restock"
#: Above this many open visits, two-person visits get a fixed start slot (see `NightModel`).
FIXED_SLOT_THRESHOLD = 300


#: The last travel matrices turned into arrays: a night split into regions builds one model
#: per region from the same matrix (1000 x 1000: about 45 ms to convert each time).
_ARRAYS: list[tuple[list[list[float]], np.ndarray]] = []


def _whole_seconds(matrix: list[list[float]]) -> np.ndarray:
    """``matrix`` as an int64 array of whole seconds, rounded up (never optimistic)."""
    for seen, array in _ARRAYS:
        if seen is matrix:
            return array
    array = np.ceil(np.asarray(matrix, dtype=np.float64)).astype(np.int64)
    # Holding the list keeps its identity from being reused by another matrix.
    _ARRAYS[:] = [*_ARRAYS[-3:], (matrix, array)]
    return array


@dataclass(frozen=True, slots=True)
class Node:
    kind: str
    location: int
    service: int
    visit: Visit | None = None
    copy: int = 0


class NightModel:
    """The OR-Tools model of one problem, with the maps back from nodes to visits."""

    def __init__(
        self,
        problem: Problem,
        visits: list[Visit],
        departures: dict[str, timeline.Departure],
        *,
        visits_required: bool = False,
        fixed_slots: bool | None = None,
        promises: dict[str, int] | None = None,
    ) -> None:
        self.problem = problem
        #: Visit id -> the start a call was last answered with (`promises_of`): costed past
        #: it as past its aim, so a re-plan keeps what triage and the partner were told.
        self.promises = promises or {}
        #: No disjunctions for visits: every plan must perform them all (see solve._iterated).
        self.visits_required = visits_required
        self.visits = visits
        nurses = problem.nurses
        self.nodes: list[Node] = []
        self.departures = [departures[n.id] for n in nurses]
        for leave in self.departures:
            self.nodes.append(Node(START, leave.location, 0))
        for nurse in nurses:
            self.nodes.append(Node(END, nurse.end_location, 0))
        self.visit_nodes: dict[str, list[int]] = {}
        for visit in visits:
            for copy in range(visit.nurses_needed):
                self.visit_nodes.setdefault(visit.id, []).append(len(self.nodes))
                self.nodes.append(Node(VISIT, visit.location, visit.service_seconds, visit, copy))
        self.items = sorted({item for v in visits for item, q in v.materials.items() if q > 0})
        self.restock_nodes: list[int] = []
        if self._restocks_may_help():
            for _ in range(min(2 * len(nurses), 20)):
                self.restock_nodes.append(len(self.nodes))
                self.nodes.append(
                    Node(RESTOCK, problem.night.base_location, problem.night.restock_seconds)
                )
        count = len(nurses)
        self.manager = pywrapcp.RoutingIndexManager(
            len(self.nodes), count, list(range(count)), list(range(count, 2 * count))
        )
        self.routing = pywrapcp.RoutingModel(self.manager)
        self.breaks: dict[int, object] = {}
        self.mean_arc_cost = 1.0
        self.new_visits_left_out = False  # set when a warm start could not place a new call
        # Routing indices of same-nurse links (A, then B), kept in or out together.
        self.pairs: list[tuple[int, int]] = []
        # Routing indices of every link in the model with its gap: (first, second, min, max).
        self.linked: list[tuple[int, int, int, int]] = []
        # Whether the routing filters time the links across routes (`_link_precedences`).
        self.links_timed = False
        # Cross-route constraints keep two-person visits in step exactly, but every search
        # move then needs full propagation: past a few hundred visits the first plan would
        # not arrive in time. Large nights give each two-person visit a fixed slot instead.
        # A region of a large night (`optimizer.regions`) is given the night's choice.
        self.fixed_slots = (
            len(visits) > FIXED_SLOT_THRESHOLD if fixed_slots is None else fixed_slots
        )
        self._build()

    def _restocks_may_help(self) -> bool:
        # Restock nodes are optional stops the search must keep moving in and out; build them
        # only where a bag can run out and the night allows restocking at all.
        if not self.problem.night.restocks_allowed:
            return False
        for item in self.items:
            demand = sum(v.materials.get(item, 0) * v.nurses_needed for v in self.visits)
            on_hand = min(n.contents_now(item) for n in self.problem.nurses)
            if demand > on_hand:
                return True
        return False

    # ------------------------------------------------------------------ build

    def _build(self) -> None:
        problem, routing = self.problem, self.routing
        locations = np.array([n.location for n in self.nodes], dtype=np.int64)
        service = np.array([n.service for n in self.nodes], dtype=np.int64)
        time_callbacks: dict[str, int] = {}
        cost_callbacks: dict[str, int] = {}
        for profile in {n.profile for n in problem.nurses}:
            full = _whole_seconds(problem.matrix(profile))
            travel = full[np.ix_(locations, locations)]
            cost = travel.copy()
            # A restock costs its time too, so the search adds one only where the bag runs out.
            cost[:, self.restock_nodes] += problem.night.restock_seconds
            cost_callbacks[profile] = routing.RegisterTransitMatrix(cost.tolist())
            if profile == problem.nurses[0].profile:
                # The scale of one move, for search temperatures given relative to it: over
                # the visits and one start, as if one depot (the nurses' many start and end
                # nodes would otherwise pull the mean towards zero).
                kept = [0, *(i for i, node in enumerate(self.nodes) if node.kind == VISIT)]
                sample = travel[np.ix_(kept, kept)]
                mean = float(sample.sum()) / max(1, sample.size - len(sample))
                self.mean_arc_cost = max(1.0, mean)  # OR-Tools refuses a zero temperature
            time_callbacks[profile] = routing.RegisterTransitMatrix(
                (travel + service[:, None]).tolist()
            )
        for v, nurse in enumerate(problem.nurses):
            routing.SetArcCostEvaluatorOfVehicle(cost_callbacks[nurse.profile], v)

        horizon = problem.night.horizon
        if len(time_callbacks) == 1:
            # One profile: one transit for all, which OR-Tools' filters handle as such.
            (callback,) = time_callbacks.values()
            routing.AddDimension(callback, horizon, horizon, False, "time")
        else:
            routing.AddDimensionWithVehicleTransits(
                [time_callbacks[n.profile] for n in problem.nurses], horizon, horizon, False, "time"
            )
        self.time = routing.GetDimensionOrDie("time")
        self._time_windows(horizon)
        self._disjunctions()
        self._skills_and_pins()
        self._two_person_visits()
        self._dependencies()
        self._bag()
        self._breaks(service)
        self._link_precedences()
        self._stability()

    def index(self, node: int) -> int:
        return int(self.manager.NodeToIndex(node))

    def _time_windows(self, horizon: int) -> None:
        problem, routing, time_dim = self.problem, self.routing, self.time
        for v, nurse in enumerate(problem.nurses):
            leave = self.departures[v]
            # A nurse already past her shift end (a live re-plan late at night) still gets a
            # route home rather than making the whole model infeasible.
            home = problem.travel_seconds(nurse.profile, leave.location, nurse.end_location)
            end = max(nurse.shift.end, leave.time + home)
            time_dim.CumulVar(routing.Start(v)).SetRange(leave.time, end)
            time_dim.CumulVar(routing.End(v)).SetRange(leave.time, end)
            routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v)))
        for visit in self.visits:
            stop = timeline.stop_for(problem, visit)
            latest = stop.latest if stop.latest is not None else horizon
            # One soft bound per variable: a call's aim (or promise), a tolerance's window
            # end, or a hard end's margin; the quote ranks places by the same bound.
            soft = timeline.soft_end(problem, visit)
            if soft is not None and visit.id in self.promises:
                soft = (min(soft[0], self.promises[visit.id]), soft[1])
            if visit.nurses_needed == 2 and self.fixed_slots:
                # Both copies in one short slot: in step without a cross-route constraint.
                slot_end = stop.earliest + problem.night.sync_tolerance_seconds
                latest = min(max(stop.earliest, latest), slot_end)
            for node in self.visit_nodes[visit.id]:
                index = self.index(node)
                cumul = time_dim.CumulVar(index)
                cumul.SetRange(stop.earliest, max(stop.earliest, latest))
                if soft is not None:
                    time_dim.SetCumulVarSoftUpperBound(index, soft[0], soft[1])
                routing.AddVariableMinimizedByFinalizer(cumul)
        for node in self.restock_nodes:
            routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(self.index(node)))

    def _disjunctions(self) -> None:
        keep = self._keep_penalty()
        for visit in self.visits if not self.visits_required else ():
            penalty = self.problem.urgency_classes[visit.urgency].omission_penalty
            if visit.state == VisitState.EN_ROUTE:
                # A nurse is driving there: the plan must keep it (`assemble` puts it first
                # whatever the solution says). With its class's penalty the search traded it
                # for visits it kept out (on a 14-nurse night: an en-route call's catheter kit
                # and hour for two planned visits), and the layout then put it back in front
                # of routes timed without it: windows missed, bag empty, shift overrun.
                penalty = keep
            for node in self.visit_nodes[visit.id]:
                self.routing.AddDisjunction([self.index(node)], penalty)
        for node in self.restock_nodes:
            self.routing.AddDisjunction([self.index(node)], 0)

    def _keep_penalty(self) -> int:
        """The omission penalty of a visit the plan must keep (one a nurse is driving to):
        more than every other cost the objective can hold together (travel and restock time
        of full routes, every other visit's omission penalty, lateness over the whole night,
        stability), so no search leaves it out to gain anything; it stays optional only so
        that a night where it cannot be kept still gets a plan, which then names the rule.
        Capped so that the penalties of every such visit add up below OR-Tools' int64 cost."""
        problem = self.problem
        horizon = problem.night.horizon
        classes = problem.urgency_classes
        total = 1 + len(problem.nurses) * horizon
        kept = 0
        for visit in self.visits:
            copies = visit.nurses_needed
            if visit.state == VisitState.EN_ROUTE:
                kept += copies
            else:
                total += classes[visit.urgency].omission_penalty * copies
            soft = timeline.soft_end(problem, visit)  # the one soft bound `_time_windows` sets
            if soft is not None:
                total += soft[1] * horizon * copies
        published = sum(1 for v in self.visits if v.published_nurse is not None)
        total += len(problem.nurses) * problem.night.stability_cost * (published + 1)
        return min(total, 2**62 // max(1, kept))

    def _skills_and_pins(self) -> None:
        problem, routing = self.problem, self.routing
        vehicle_of = {n.id: v for v, n in enumerate(problem.nurses)}
        positioned: list[tuple[int, int]] = []
        pinned_at: list[tuple[int, int]] = []  # (node, vehicle) of a stop pinned at a position
        for visit in self.visits:
            allowed = [vehicle_of[n.id] for n in eligible_nurses(problem, visit)]
            nodes = self.visit_nodes[visit.id]
            if visit.pin is not None and len(nodes) == 2 and allowed:
                # A two-person visit's pinned nurse is one of the two: the first copy hers,
                # the second anyone else's who could do it.
                pinned = vehicle_of[visit.pin.nurse]
                others = [v for v in allowed if v != pinned]
                routing.VehicleVar(self.index(nodes[0])).SetValues([-1, pinned])
                routing.VehicleVar(self.index(nodes[1])).SetValues([-1, *others])
            elif len(allowed) != len(problem.nurses):
                for node in nodes:
                    # SetAllowedVehiclesForIndex's Python binding rejects lists in ortools 9.15.
                    routing.VehicleVar(self.index(node)).SetValues([-1, *allowed])
            # Positions hold even when every nurse may do the visit (a one-nurse night).
            if visit.state == VisitState.EN_ROUTE:
                nurse = problem.nurse(visit.assigned_nurses[0])
                positioned.append(
                    (self.visit_nodes[visit.id][0], len(timeline.locked_prefix(problem, nurse)))
                )
                if visit.nurses_needed == 1:
                    # She is driving there: nothing (not even a restock) comes first.
                    solver = routing.solver()
                    node = self.index(self.visit_nodes[visit.id][0])
                    start = routing.Start(vehicle_of[nurse.id])
                    first = solver.IsEqualCstVar(routing.NextVar(start), node)
                    dropped = solver.IsEqualCstVar(routing.ActiveVar(node), 0)
                    solver.Add(first + dropped >= 1)
            elif visit.pin is not None and visit.pin.position is not None:
                positioned.append((self.visit_nodes[visit.id][0], visit.pin.position))
                pinned_at.append((self.visit_nodes[visit.id][0], vehicle_of[visit.pin.nurse]))
        if not positioned:
            return
        counts = [1 if node.kind == VISIT else 0 for node in self.nodes]
        counter = routing.RegisterUnaryTransitVector(counts)
        routing.AddDimension(counter, 0, len(self.nodes), False, "position")
        position = routing.GetDimensionOrDie("position")
        for v, nurse in enumerate(problem.nurses):
            done = len(timeline.locked_prefix(problem, nurse))
            position.CumulVar(routing.Start(v)).SetValue(done)
        for node, rank in positioned:
            position.CumulVar(self.index(node)).SetValue(rank)
        self._no_lone_half_before(pinned_at, position)

    def _no_lone_half_before(
        self, pinned_at: list[tuple[int, int]], position: pywrapcp.RoutingDimension
    ) -> None:
        """A two-person copy or a linked visit (kept only with its other half when the plan
        is read) comes before a stop pinned at a position only with its other half in the
        plan: a lone half dropped on reading moved every later stop one place up, past its
        pin. Only such pairs on such nights: a tie of the halves everywhere kept the search
        from inserting them one at a time (an en-route visit's position needs none: nothing
        comes before it)."""
        if not pinned_at:
            return
        pairs = [nodes for nodes in self.visit_nodes.values() if len(nodes) == 2]
        pairs += [
            [self.visit_nodes[link.first][0], self.visit_nodes[link.second][0]]
            for link in self.problem.dependencies
            if link.first in self.visit_nodes and link.second in self.visit_nodes
        ]
        solver, routing = self.routing.solver(), self.routing
        for pinned, vehicle in pinned_at:
            at = position.CumulVar(self.index(pinned))
            for a, b in pairs:
                for half, other in ((a, b), (b, a)):
                    x = self.index(half)
                    on_her_route = solver.IsEqualCstVar(routing.VehicleVar(x), vehicle)
                    before = solver.IsLessVar(position.CumulVar(x), at)
                    solver.Add(on_her_route + before <= 1 + routing.ActiveVar(self.index(other)))

    def _two_person_visits(self) -> None:
        # Copies stay in their own disjunctions, so the search can add them one at a time;
        # a lone copy in the final solution is dropped (see `_extract`).
        solver, routing = self.routing.solver(), self.routing
        tolerance = self.problem.night.sync_tolerance_seconds
        for nodes in self.visit_nodes.values():
            if len(nodes) != 2 or self.fixed_slots:
                continue
            a, b = (self.index(n) for n in nodes)
            service = self.nodes[nodes[0]].service
            if service <= tolerance:
                # Otherwise starting within the tolerance already rules out one nurse doing
                # both copies in turn, and the reified constraint slows every search move.
                both_off = solver.IsEqualCstVar(routing.ActiveVar(a) + routing.ActiveVar(b), 0)
                different = solver.IsDifferentVar(routing.VehicleVar(a), routing.VehicleVar(b))
                solver.Add(different + both_off >= 1)
            start_a, start_b = self.time.CumulVar(a), self.time.CumulVar(b)
            solver.Add(start_a <= start_b + tolerance)
            solver.Add(start_b <= start_a + tolerance)

    def _dependencies(self) -> None:
        # Hard gaps on the time cumuls, across routes. Each visit keeps its own disjunction so
        # insertion can add one at a time (as two-person copies do); a visit planned without
        # its partner is dropped when the solution is read (`assemble.extract`). A partner
        # already started is not in the model: its start narrows this visit's window instead
        # (`timeline.within_links`).
        solver, routing = self.routing.solver(), self.routing
        for link in self.problem.dependencies:
            if link.first not in self.visit_nodes or link.second not in self.visit_nodes:
                continue
            firsts = [self.index(n) for n in self.visit_nodes[link.first]]
            seconds = [self.index(n) for n in self.visit_nodes[link.second]]
            # A two-person visit has two nodes: the gap holds from every start of the first
            # to every start of the second, so it holds whichever nurse's start one reads.
            for a in firsts:
                for b in seconds:
                    start_a, start_b = self.time.CumulVar(a), self.time.CumulVar(b)
                    solver.Add(start_b >= start_a + link.min_seconds)
                    solver.Add(start_b <= start_a + link.max_seconds)
                    self.linked.append((a, b, link.min_seconds, link.max_seconds))
            if link.nurse == "different":
                for a in firsts:
                    for b in seconds:
                        # An inactive visit's vehicle is -1: both out would read as "the same".
                        both_off = solver.IsEqualCstVar(
                            routing.ActiveVar(a) + routing.ActiveVar(b), 0
                        )
                        different = solver.IsDifferentVar(
                            routing.VehicleVar(a), routing.VehicleVar(b)
                        )
                        solver.Add(different + both_off >= 1)
            elif link.nurse == "same":
                # Every nurse of the visit with fewer nurses is one of the other's: copy k
                # with copy k (a two-person visit's copies are interchangeable, but for a
                # pin, whose nurse is copy 0: a one-nurse check after it goes to her).
                for a, b in zip(firsts, seconds, strict=False):
                    one_off = solver.IsLessCstVar(routing.ActiveVar(a) + routing.ActiveVar(b), 2)
                    same = solver.IsEqualVar(routing.VehicleVar(a), routing.VehicleVar(b))
                    solver.Add(same + one_off >= 1)
                    # One nurse, A then B: a pickup-and-delivery pair to OR-Tools, so its
                    # insertion and local search move the two together (one at a time, B
                    # rarely fits where A already is, and A alone is dropped on reading).
                    routing.AddPickupAndDelivery(a, b)
                    solver.Add(routing.ActiveVar(a) == routing.ActiveVar(b))
                    self.pairs.append((a, b))

    def _link_precedences(self) -> None:
        """The links' gaps again as node precedences of the time dimension, on nights
        without breaks. The constraints of `_dependencies` are seen only once a move has
        passed the routing filters, which time each route alone: an insertion or move that
        works only if the partner's route shifts was judged blind, and an insertion
        heuristic's batch failed whole on one such misjudged link. With precedences
        OR-Tools times all routes together (a global cumul optimizer) in its filters and
        finalizer: HHCRSP E2 at 15 s, 897.8 -> 870.6; K200-52 1031.7 -> 979.7. Not with
        breaks: that optimizer then solves a mixed-integer program per move (a 10 x 200
        generated night with 20 links and breaks, 5 s: 198 visits left out against 38)."""
        if self.breaks:
            return
        self.links_timed = bool(self.linked)
        for a, b, low, high in self.linked:
            self.time.AddNodePrecedence(a, b, low)
            self.time.AddNodePrecedence(b, a, -high)

    def _bag(self) -> None:
        problem, routing = self.problem, self.routing
        restocks = set(self.restock_nodes)
        for item in self.items:
            capacities = [n.bag.get(item, 0) for n in problem.nurses]
            refill = max(capacities)
            demand = [
                -refill
                if i in restocks
                else (node.visit.materials.get(item, 0) if node.visit is not None else 0)
                for i, node in enumerate(self.nodes)
            ]
            callback = routing.RegisterUnaryTransitVector(demand)
            # Slack is the refill at a restock; without restock nodes there is none to model.
            slack = refill if restocks else 0
            routing.AddDimensionWithVehicleCapacity(callback, slack, capacities, False, item)
            dimension = routing.GetDimensionOrDie(item)
            for v, nurse in enumerate(problem.nurses):
                used = nurse.bag.get(item, 0) - nurse.contents_now(item)
                dimension.CumulVar(routing.Start(v)).SetValue(used)
            if not restocks:
                continue
            for i in range(len(self.nodes)):
                if self.nodes[i].kind == END:
                    continue
                if i not in restocks:
                    dimension.SlackVar(self.index(i)).SetValue(0)

    def _breaks(self, service: np.ndarray) -> None:
        problem, routing, manager = self.problem, self.routing, self.manager
        solver = routing.solver()
        size = routing.Size() + routing.vehicles()
        visit_transits = [int(service[manager.IndexToNode(i)]) for i in range(size)]
        for v, nurse in enumerate(problem.nurses):
            rule = nurse.break_rule
            if rule is None or nurse.break_taken:
                continue
            earliest = max(rule.window.start, self.departures[v].time)
            if earliest > rule.latest_start:
                # Its window has passed: the plan reports the break missed; modelling a break
                # after its window would only hide as waiting at the next door.
                continue
            latest = rule.latest_start
            interval = solver.FixedDurationIntervalVar(
                earliest, latest, rule.duration_seconds, False, f"break {v}"
            )
            self.time.SetBreakIntervalsOfVehicle([interval], v, visit_transits)
            self.breaks[v] = interval

    def _stability(self) -> None:
        problem, routing = self.problem, self.routing
        published = [
            (i, node.visit.published_nurse)
            for i, node in enumerate(self.nodes)
            if node.visit is not None and node.visit.published_nurse is not None
        ]
        if not published:
            return
        callbacks = []
        for nurse in problem.nurses:
            costs = [0] * len(self.nodes)
            for i, owner in published:
                if owner != nurse.id:
                    costs[i] = problem.night.stability_cost
            callbacks.append(routing.RegisterUnaryTransitVector(costs))
        bound = problem.night.stability_cost * (len(published) + 1)
        routing.AddDimensionWithVehicleTransitAndCapacity(
            callbacks, 0, [bound] * len(problem.nurses), True, "stability"
        )
        routing.GetDimensionOrDie("stability").SetSpanCostCoefficientForAllVehicles(1)

    # ---------------------------------------------------------------- search
