"""Solomon VRPTW instances: reader, the instance as a night for `optimizer.solve`, and an
independent checker.

Conventions (DIMACS 2021 / CVRPLIB): every arc's distance and travel time is the Euclidean
distance truncated to one decimal, ``floor(10 * d) / 10``; the objective is total distance
only (the vehicle count is not minimised). Internally the solver works in integer tenths.
A customer's DUE DATE is the latest service *start*; every route starts and ends at the
depot (customer 0) within the depot's window.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from optimizer import search
from optimizer.model import Night, Nurse, Problem, TimeWindow, TravelMatrix, Visit
from optimizer.plan import Plan
from optimizer.solve import solve

__all__ = [
    "CheckReport",
    "SolomonInstance",
    "SolomonResult",
    "check_solomon",
    "distance_of_route",
    "problem_from_solomon",
    "read_solomon",
    "routes_from_plan",
    "solve_solomon",
]

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
# Solving: through the night solver itself, so the figures describe what the nurses get.

#: A night needs a date; the instance's clock starts at its midnight.
_EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
_ITEM = "load"  # the vehicle capacity becomes one night-bag item


def _tenths_matrix(instance: SolomonInstance) -> list[list[float]]:
    """Arc lengths in integer tenths, floor(10 * d), exact through the integer square root."""
    xs, ys = instance.x, instance.y
    return [
        [
            float(math.isqrt(100 * ((xa - xb) ** 2 + (ya - yb) ** 2)))
            for xb, yb in zip(xs, ys, strict=True)
        ]
        for xa, ya in zip(xs, ys, strict=True)
    ]


def problem_from_solomon(instance: SolomonInstance) -> Problem:
    """The instance as a night: vehicles as nurses (shift = depot window, start and end at the
    depot, location 0), demand as a night-bag item with the vehicle capacity, customers as
    planned-care visits with hard windows, restocks forbidden. Every quantity is multiplied by
    10 and read as whole seconds, so a travel second is a tenth of DIMACS distance.

    A window that ends after the depot closes is cut at the closing time: service that starts
    later could not be followed by the way back anyway.
    """
    horizon = 10 * instance.due[0]
    if not 0 < horizon <= 24 * 3600:
        raise ValueError(
            f"{instance.name}: depot due date {instance.due[0]} gives a night of {horizon} s "
            "(1 s to 24 h allowed)"
        )
    shift = TimeWindow(start=min(10 * instance.ready[0], horizon), end=horizon)
    nurses = [
        Nurse(
            id=f"v{k + 1}",
            shift=shift,
            start_location=0,
            end_location=0,
            bag={_ITEM: instance.capacity},
        )
        for k in range(instance.num_vehicles)
    ]
    visits = []
    for c in range(1, instance.num_customers + 1):
        end = min(10 * instance.due[c], horizon)
        visits.append(
            Visit(
                id=f"c{c}",
                client_ref=f"solomon-{c}",
                location=c,
                service_seconds=10 * instance.service[c],
                urgency="planned",
                window=TimeWindow(start=min(10 * instance.ready[c], end), end=end),
                materials={_ITEM: instance.demand[c]} if instance.demand[c] else {},
            )
        )
    return Problem(
        night=Night(
            start=_EPOCH,
            end=_EPOCH + timedelta(seconds=horizon),
            timezone="UTC",
            base_location=0,
            restocks_allowed=False,
        ),
        travel=[TravelMatrix(profile="car", seconds=_tenths_matrix(instance))],
        nurses=nurses,
        visits=visits,
    )


def routes_from_plan(plan: Plan) -> tuple[tuple[int, ...], ...]:
    """The customer numbers of each non-empty route of a plan from `problem_from_solomon`."""
    routes = []
    for route in plan.routes:
        customers = tuple(int(visit_id[1:]) for visit_id in route.visit_ids())
        if customers:
            routes.append(customers)
    return tuple(routes)


def solve_solomon(
    instance: SolomonInstance,
    *,
    time_limit: float,
    seed: int = 0,
    configs: Sequence[search.SearchConfig] | None = None,
    processes: int | None = None,
    solution_limit: int | None = None,
) -> SolomonResult:
    """Solve the instance with `optimizer.solve` on its night (`problem_from_solomon`).

    ``time_limit`` is the wall-clock budget of the whole call; ``configs`` replaces the
    tuned portfolio (e.g. ``[search.baseline_config()]``). The routes are read from the
    returned plan and verified by `check_solomon`, which also gives the distance.
    """
    started = time.monotonic()
    problem = problem_from_solomon(instance)
    plan = solve(
        problem,
        time_limit=max(0.05, time_limit - (time.monotonic() - started)),
        seed=seed,
        configs=configs,
        processes=processes,
        solution_limit=solution_limit,
    )
    routes = routes_from_plan(plan)
    report = check_solomon(instance, routes)
    return SolomonResult(
        instance=instance.name,
        routes=routes,
        distance=report.distance,
        seconds=time.monotonic() - started,
        feasible=report.feasible and not plan.violations,
        config=plan.stats.method if plan.stats is not None else "",
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
