"""Solomon VRPTW instances: reader, OR-Tools solver and an independent checker.

Conventions (DIMACS 2021 / CVRPLIB): every arc's distance and travel time is the Euclidean
distance truncated to one decimal, ``floor(10 * d) / 10``; the objective is total distance
only (the vehicle count is not minimised). Internally the solver works in integer tenths.
A customer's DUE DATE is the latest service *start*; every route starts and ends at the
depot (customer 0) within the depot's window.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ortools.constraint_solver import pywrapcp

from optimizer import search

__all__ = [
    "CheckReport",
    "SolomonInstance",
    "SolomonResult",
    "check_solomon",
    "read_solomon",
    "solve_solomon",
    "solve_solomon_once",
]

_LOG_SEARCH = False  # flip while tuning to see OR-Tools' search log
_COLUMNS = 7  # CUST NO., X, Y, DEMAND, READY TIME, DUE DATE, SERVICE TIME


@dataclass(frozen=True)
class SolomonInstance:
    """One VRPTW instance; index 0 is the depot, 1..n the customers."""

    name: str
    num_vehicles: int
    capacity: int
    x: tuple[int, ...]
    y: tuple[int, ...]
    demand: tuple[int, ...]
    ready: tuple[int, ...]
    due: tuple[int, ...]
    service: tuple[int, ...]

    @property
    def num_customers(self) -> int:
        """Number of customers, depot excluded."""
        return len(self.x) - 1

    def head(self, num_customers: int) -> SolomonInstance:
        """Return the instance cut to its depot and first ``num_customers`` customers."""
        keep = num_customers + 1
        return SolomonInstance(
            name=f"{self.name}-{num_customers}",
            num_vehicles=self.num_vehicles,
            capacity=self.capacity,
            x=self.x[:keep],
            y=self.y[:keep],
            demand=self.demand[:keep],
            ready=self.ready[:keep],
            due=self.due[:keep],
            service=self.service[:keep],
        )


@dataclass(frozen=True)
class SolomonResult:
    """A solve's outcome: routes of customer numbers and their DIMACS distance."""

    instance: str
    routes: tuple[tuple[int, ...], ...]
    distance: float
    seconds: float
    feasible: bool
    config: str = ""

    @property
    def vehicles(self) -> int:
        """Number of non-empty routes."""
        return sum(1 for route in self.routes if route)


@dataclass(frozen=True)
class CheckReport:
    """What the independent checker found: the recomputed distance and every violation."""

    distance: float
    violations: tuple[str, ...] = field(default=())

    @property
    def feasible(self) -> bool:
        """True when no rule is violated."""
        return not self.violations


# --------------------------------------------------------------------------------------
# Reading


def read_solomon(path: str | Path) -> SolomonInstance:
    """Read a file in Solomon's original text format; ValueError names file and line."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read: {error}") from error

    def fail(line_no: int, message: str) -> ValueError:
        return ValueError(f"{path}:{line_no}: {message}")

    numbered = [(i + 1, line.strip()) for i, line in enumerate(lines)]
    content = [(no, text) for no, text in numbered if text]
    if not content:
        raise fail(1, "empty file")
    name = content[0][1]
    upper = [text.upper() for _, text in content]
    try:
        vehicle_at = upper.index("VEHICLE")
        customer_at = upper.index("CUSTOMER")
    except ValueError:
        raise fail(content[0][0], "missing VEHICLE or CUSTOMER section") from None
    if customer_at < vehicle_at + 3:
        raise fail(content[vehicle_at][0], "VEHICLE section needs a header and a value line")
    no, text = content[vehicle_at + 2]
    parts = text.split()
    if len(parts) != 2 or not all(_is_int(p) for p in parts):
        raise fail(no, f"expected '<number> <capacity>', got {text!r}")
    num_vehicles, capacity = (int(p) for p in parts)
    if num_vehicles <= 0 or capacity <= 0:
        raise fail(no, "vehicle number and capacity must be positive")

    rows: list[list[int]] = []
    # The line after CUSTOMER is the column header; data rows follow.
    for no, text in content[customer_at + 2 :]:
        parts = text.split()
        if len(parts) != _COLUMNS or not all(_is_int(p) for p in parts):
            raise fail(no, f"expected {_COLUMNS} integers per customer row, got {text!r}")
        row = [int(p) for p in parts]
        if row[0] != len(rows):
            raise fail(no, f"customer number {row[0]} out of sequence, expected {len(rows)}")
        if row[3] < 0 or row[6] < 0:
            raise fail(no, "demand and service time must be non-negative")
        if row[5] < row[4]:
            raise fail(no, f"due date {row[5]} before ready time {row[4]}")
        if row[3] > capacity:
            raise fail(no, f"demand {row[3]} exceeds vehicle capacity {capacity}")
        rows.append(row)
    if len(rows) < 2:
        raise fail(content[-1][0], "need a depot row and at least one customer")
    columns = list(zip(*rows, strict=True))
    return SolomonInstance(
        name=name,
        num_vehicles=num_vehicles,
        capacity=capacity,
        x=columns[1],
        y=columns[2],
        demand=columns[3],
        ready=columns[4],
        due=columns[5],
        service=columns[6],
    )


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------
# Solving


def _tenths_matrix(instance: SolomonInstance, order: Sequence[int]) -> list[list[int]]:
    """Arc lengths in integer tenths, floor(10 * d), exact through the integer square root."""
    xs = [instance.x[i] for i in order]
    ys = [instance.y[i] for i in order]
    return [
        [math.isqrt(100 * ((xa - xb) ** 2 + (ya - yb) ** 2)) for xb, yb in zip(xs, ys, strict=True)]
        for xa, ya in zip(xs, ys, strict=True)
    ]


def _node_order(instance: SolomonInstance, seed: int) -> list[int]:
    """Depot first, customers permuted by seed: OR-Tools has no seed, node order breaks ties."""
    customers = list(range(1, instance.num_customers + 1))
    if seed:
        random.Random(seed).shuffle(customers)
    return [0, *customers]


def _build_model(
    instance: SolomonInstance, order: Sequence[int], *, optional_visits: bool
) -> tuple[Any, Any, float]:
    """The OR-Tools model of ``instance`` with nodes in ``order``.

    Returns (manager, routing, mean arc cost in tenths).
    """
    size = len(order)
    distance = _tenths_matrix(instance, order)
    service = [10 * instance.service[i] for i in order]
    travel = [[distance[a][b] + service[a] for b in range(size)] for a in range(size)]
    horizon = 10 * instance.due[0]

    manager = pywrapcp.RoutingIndexManager(size, instance.num_vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)
    # Matrix and vector transits run in C++: no Python call per arc during the search.
    distance_cb = routing.RegisterTransitMatrix(distance)
    routing.SetArcCostEvaluatorOfAllVehicles(distance_cb)
    demand_cb = routing.RegisterUnaryTransitVector([instance.demand[i] for i in order])
    routing.AddDimensionWithVehicleCapacity(
        demand_cb, 0, [instance.capacity] * instance.num_vehicles, True, "load"
    )
    time_cb = routing.RegisterTransitMatrix(travel)
    routing.AddDimension(time_cb, horizon, horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    for node in range(1, size):
        customer = order[node]
        time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(
            10 * instance.ready[customer], 10 * instance.due[customer]
        )
    for vehicle in range(instance.num_vehicles):
        time_dim.CumulVar(routing.Start(vehicle)).SetRange(10 * instance.ready[0], horizon)
        time_dim.CumulVar(routing.End(vehicle)).SetRange(10 * instance.ready[0], horizon)
    if optional_visits:
        # A huge penalty keeps every customer in any solution that can hold it, but lets
        # the first solution exist when a construction cannot place a tight customer.
        penalty = 1000 * max(max(row) for row in distance) + 1
        for node in range(1, size):
            routing.AddDisjunction([manager.NodeToIndex(node)], penalty)
    mean_arc = sum(map(sum, distance)) / max(1, size * size - size)
    return manager, routing, mean_arc


def solve_solomon_once(
    instance: SolomonInstance, config: search.SearchConfig, time_limit: float
) -> SolomonResult:
    """Build the OR-Tools model and run one search configuration (a portfolio worker).

    If the construction finds no solution at all (tight windows), the model is rebuilt with
    every customer optional at a prohibitive penalty and searched for the time left.
    """
    started = time.monotonic()
    order = _node_order(instance, config.seed)
    optional = config.optional_visits
    manager, routing, mean_arc = _build_model(instance, order, optional_visits=optional)
    solution = search.solve_routing(
        routing,
        config,
        time_limit=max(0.1, time_limit - (time.monotonic() - started)),
        mean_arc_cost=mean_arc,
        log=_LOG_SEARCH,
    )
    left = time_limit - (time.monotonic() - started)
    if solution is None and not optional and left > 0.2:
        manager, routing, mean_arc = _build_model(instance, order, optional_visits=True)
        solution = search.solve_routing(
            routing, config, time_limit=left - 0.05, mean_arc_cost=mean_arc, log=_LOG_SEARCH
        )
    routes: list[tuple[int, ...]] = []
    if solution is not None:
        for vehicle in range(instance.num_vehicles):
            index = solution.Value(routing.NextVar(routing.Start(vehicle)))
            route: list[int] = []
            while not routing.IsEnd(index):
                route.append(order[manager.IndexToNode(index)])
                index = solution.Value(routing.NextVar(index))
            if route:
                routes.append(tuple(route))
    visited = sum(len(route) for route in routes)
    return SolomonResult(
        instance=instance.name,
        routes=tuple(routes),
        distance=round(sum(distance_of_route(instance, route) for route in routes), 1),
        seconds=time.monotonic() - started,
        feasible=visited == instance.num_customers,
        config=config.label,
    )


def distance_of_route(instance: SolomonInstance, route: Sequence[int]) -> float:
    """DIMACS distance of one route (depot to depot), rounded to one decimal."""
    stops = [0, *route, 0]
    tenths = sum(
        math.isqrt(
            100 * ((instance.x[a] - instance.x[b]) ** 2 + (instance.y[a] - instance.y[b]) ** 2)
        )
        for a, b in itertools.pairwise(stops)
    )
    return round(tenths / 10, 1)


def _result_key(result: SolomonResult) -> tuple[int, float]:
    return (0 if result.feasible else 1, result.distance)


def solve_solomon(
    instance: SolomonInstance,
    *,
    time_limit: float,
    seed: int = 0,
    configs: Sequence[search.SearchConfig] | None = None,
    processes: int | None = None,
) -> SolomonResult:
    """Solve with a portfolio of search configurations in parallel processes; best wins.

    ``time_limit`` is the wall-clock budget of the whole call; ``seed`` shifts every
    configuration's seed, so two seeds give two independent runs.
    """
    started = time.monotonic()
    chosen = list(configs) if configs is not None else list(search.default_portfolio())
    chosen = [cfg.with_seed(cfg.seed + seed) for cfg in chosen]
    parallel = len(chosen) > 1 and processes != 1
    # Leave room for process start-up and collecting the answers.
    overhead = search.PORTFOLIO_OVERHEAD_SECONDS if parallel else 0.05
    budget = max(0.1, time_limit - overhead)
    jobs = [(instance, cfg, budget) for cfg in chosen]
    best = search.run_portfolio(solve_solomon_once, jobs, key=_result_key, processes=processes)
    report = check_solomon(instance, best.routes)
    return SolomonResult(
        instance=best.instance,
        routes=best.routes,
        distance=report.distance,
        seconds=time.monotonic() - started,
        feasible=report.feasible,
        config=best.config,
    )


# --------------------------------------------------------------------------------------
# Checking: written apart from the solver on purpose (floating-point hypot, own loop).


def check_solomon(instance: SolomonInstance, routes: Sequence[Sequence[int]]) -> CheckReport:
    """Verify routes against every VRPTW rule and recompute their DIMACS distance."""
    violations: list[str] = []
    n = instance.num_customers
    seen: dict[int, int] = {}
    if len(routes) > instance.num_vehicles:
        violations.append(f"{len(routes)} routes but only {instance.num_vehicles} vehicles")
    total = 0  # tenths, so that times and distances add up exactly
    for r, route in enumerate(routes):
        load = 0
        clock = 10 * instance.ready[0]
        previous = 0
        for customer in route:
            if not (isinstance(customer, int) and 1 <= customer <= n):
                violations.append(f"route {r}: {customer!r} is not a customer number")
                continue
            seen[customer] = seen.get(customer, 0) + 1
            leg = _leg_tenths(instance, previous, customer)
            total += leg
            clock = max(clock + leg, 10 * instance.ready[customer])
            if clock > 10 * instance.due[customer]:
                violations.append(
                    f"route {r}: service at customer {customer} starts at {clock / 10}, "
                    f"after its due date {instance.due[customer]}"
                )
            clock += 10 * instance.service[customer]
            load += instance.demand[customer]
            previous = customer
        leg = _leg_tenths(instance, previous, 0)
        total += leg
        clock += leg
        if clock > 10 * instance.due[0]:
            violations.append(
                f"route {r}: back at the depot at {clock / 10}, after its closing {instance.due[0]}"
            )
        if load > instance.capacity:
            violations.append(f"route {r}: load {load} exceeds capacity {instance.capacity}")
    for customer in range(1, n + 1):
        count = seen.get(customer, 0)
        if count != 1:
            violations.append(f"customer {customer} visited {count} times, expected once")
    return CheckReport(distance=total / 10, violations=tuple(violations))


def _leg_tenths(instance: SolomonInstance, a: int, b: int) -> int:
    """floor(10 * d) by floating point; 10 * d of integer points is never within 1e-6 of an
    integer unless it is one, so the small nudge only guards exact squares."""
    d = math.hypot(instance.x[a] - instance.x[b], instance.y[a] - instance.y[b])
    return math.floor(10 * d + 1e-6)
