"""The night's problem: plain, immutable data in (nurses, visits, travel times).

Units and conventions, stated once:

- every time is an integer number of **seconds from the night's start** (``Night.start``,
  Europe/Amsterdam); a night crosses midnight, so 02:00 in a 23:00 night is ``10800``;
- every duration is in seconds;
- travel matrices are seconds, ``matrix[from][to]``, asymmetric allowed;
- locations are indexes into ``Problem.locations`` (and into every travel matrix);
- windows are inclusive at both ends and bound the **start of service**.

Nothing here identifies a person: a visit carries an opaque ``client_ref`` only.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from optimizer.plan import ReasonCode

__all__ = [
    "DEFAULT_SKILLS",
    "DEFAULT_URGENCY_CLASSES",
    "MAX_LOCATIONS",
    "MAX_TRAVEL_SECONDS",
    "BreakRule",
    "Dependency",
    "Hold",
    "Location",
    "Night",
    "Nurse",
    "Pin",
    "Problem",
    "TimeWindow",
    "TravelMatrix",
    "UrgencyClass",
    "Visit",
    "VisitState",
]

Seconds = Annotated[int, Field(ge=0, description="seconds")]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]

#: Bounds on what a problem may hold, so no input the schema accepts can overflow the solver's
#: integer arithmetic or its memory: a week of travel (anything past the night is unreachable
#: anyway) and a matrix of 10,000 places.
MAX_TRAVEL_SECONDS = 7 * 24 * 3600
MAX_LOCATIONS = 10_000

#: The skills a region knows unless it lists its own; a visit asking for another is refused.
DEFAULT_SKILLS: tuple[str, ...] = (
    "basic",
    "medication",
    "injection",
    "catheter",
    "stoma",
    "wound",
    "iv",
    "palliative",
    "transfer",
    "diabetes",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UrgencyClass(_Frozen):
    """How soon a visit of this class must start, and what being late or left out costs.

    ``target_seconds`` counts from the call (``Visit.call_time``); ``None`` means the class
    is planned: its visits carry an agreed window that is hard.
    """

    target_seconds: Seconds | None = Field(
        description="on site within this many seconds of the call; null for planned care"
    )
    lateness_cost_per_minute: Annotated[int, Field(ge=0, le=10_000_000)] = Field(
        description="objective cost of each minute past the target (travel costs 60 a minute)"
    )
    omission_penalty: Annotated[int, Field(ge=0, le=10**12)] = Field(
        description="objective cost of leaving a visit of this class out of the plan"
    )
    aim_seconds: Seconds | None = Field(
        default=None,
        description=(
            "the search plans to be on site within this many seconds of the call, ahead of "
            "the target: past it each minute costs lateness_cost_per_minute, so a plan does "
            "not put the call at the very end of its target where a slower drive or a visit "
            "running over makes it late; null: the target itself. Reports and answers still "
            "count lateness from the target"
        ),
    )
    response_cost_per_minute: Annotated[int, Field(ge=0, le=10_000_000)] = Field(
        default=0,
        description=(
            "objective cost of each minute from the call to the start on site, before the "
            "aim as after it (travel costs 60 a minute): the quick answer to a call takes "
            "the place that gets a nurse there sooner over one that saves less driving than "
            "this is worth; 0: any start before the aim is as good as another. At most "
            "lateness_cost_per_minute, and only with a target"
        ),
    )

    @model_validator(mode="after")
    def _aim_within_target(self) -> Self:
        if self.aim_seconds is not None and (
            self.target_seconds is None or self.aim_seconds > self.target_seconds
        ):
            raise ValueError("aim_seconds: at most target_seconds (and only with a target)")
        if self.response_cost_per_minute and (
            self.target_seconds is None
            or self.response_cost_per_minute > self.lateness_cost_per_minute
        ):
            raise ValueError(
                "response_cost_per_minute: at most lateness_cost_per_minute "
                "(and only with a target)"
            )
        return self


#: Acute lateness costs far more than anything but leaving a visit out (travel costs 60/min).
#: Each minute to the door costs too (`UrgencyClass.response_cost_per_minute`): an acute
#: minute sooner is worth 20 driving minutes and more than a planned minute inside its
#: tolerance (the service's default: 1000), urgent 5 driving minutes, soon 2; all far below
#: lateness past the aim, so no call is made late to get another there sooner.
DEFAULT_URGENCY_CLASSES: dict[str, UrgencyClass] = {
    # The aims leave a third of the target for the night's noise (drives, care running over).
    "acute": UrgencyClass(
        target_seconds=30 * 60,
        lateness_cost_per_minute=100_000,
        omission_penalty=10**9,
        aim_seconds=20 * 60,
        response_cost_per_minute=1_200,
    ),
    "urgent": UrgencyClass(
        target_seconds=60 * 60,
        lateness_cost_per_minute=10_000,
        omission_penalty=5 * 10**8,
        aim_seconds=40 * 60,
        response_cost_per_minute=300,
    ),
    "soon": UrgencyClass(
        target_seconds=120 * 60,
        lateness_cost_per_minute=1_000,
        omission_penalty=2 * 10**8,
        aim_seconds=80 * 60,
        response_cost_per_minute=120,
    ),
    "planned": UrgencyClass(
        target_seconds=None, lateness_cost_per_minute=0, omission_penalty=3 * 10**8
    ),
}


class Location(_Frozen):
    """A point in WGS84 degrees."""

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)


class TimeWindow(_Frozen):
    """An inclusive interval ``[start, end]`` in seconds from the night's start."""

    start: Seconds
    end: Seconds

    @model_validator(mode="after")
    def _end_not_before_start(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"window end {self.end} is before its start {self.start}")
        return self

    def contains(self, moment: int) -> bool:
        """Whether ``moment`` lies inside the window (both ends included)."""
        return self.start <= moment <= self.end


class BreakRule(_Frozen):
    """A break of ``duration_seconds`` that starts and ends inside ``window``."""

    duration_seconds: Annotated[int, Field(gt=0, le=4 * 3600)]
    window: TimeWindow

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.window.end - self.window.start < self.duration_seconds:
            raise ValueError("break window is shorter than the break")
        return self

    @property
    def latest_start(self) -> int:
        """The last second the break may begin and still end inside its window."""
        return self.window.end - self.duration_seconds


class Nurse(_Frozen):
    """One night nurse: her skills, shift, where she starts and ends, and her night bag."""

    id: Identifier
    skills: frozenset[str] = frozenset()
    shift: TimeWindow
    start_location: Annotated[int, Field(ge=0)]
    end_location: Annotated[int, Field(ge=0)]
    profile: Identifier = "car"
    break_rule: BreakRule | None = None
    bag: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description="night bag (nachttas): item -> quantity when full"
    )
    bag_now: dict[str, Annotated[int, Field(ge=0)]] | None = Field(
        default=None, description="live re-plan: what is left in the bag now (default: full)"
    )
    current_location: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="live re-plan: where she is now"
    )
    available_at: Seconds | None = Field(
        default=None, description="live re-plan: when she can leave current_location"
    )
    break_taken: bool = Field(default=False, description="live re-plan: break already taken")

    def contents_now(self, item: str) -> int:
        """How many of ``item`` are in the bag at the start of (re-)planning."""
        if self.bag_now is not None:
            return self.bag_now.get(item, 0)
        return self.bag.get(item, 0)


class VisitState(StrEnum):
    """Where a visit stands tonight; `started` and `done` are fixed history for the solver."""

    PLANNED = "planned"
    EN_ROUTE = "en_route"
    STARTED = "started"
    DONE = "done"


class Pin(_Frozen):
    """The planner's pin: this visit goes to ``nurse``, optionally as her ``position``-th stop.

    ``position`` counts visits from 0 and includes visits already done tonight.
    """

    nurse: Identifier
    position: Annotated[int, Field(ge=0)] | None = None


class Hold(_Frozen):
    """Why the caller keeps a visit out of tonight's routes, as the plan reports it."""

    reason: ReasonCode
    message: Annotated[str, Field(min_length=1, max_length=300)]


class Visit(_Frozen):
    """One visit tonight. ``client_ref`` is opaque: no personal data enters the optimizer."""

    id: Identifier
    client_ref: Annotated[str, Field(min_length=1, max_length=64)]
    location: Annotated[int, Field(ge=0)]
    service_seconds: Annotated[int, Field(ge=0, le=8 * 3600)]
    required_skills: frozenset[str] = frozenset()
    nurses_needed: Literal[1, 2] = 1
    urgency: Identifier = "planned"
    window: TimeWindow | None = Field(
        default=None, description="planned care: the agreed (hard) window for the start"
    )
    call_time: Seconds | None = Field(
        default=None, description="unplanned care: when the call came in"
    )
    materials: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description="items taken from the night bag"
    )
    pin: Pin | None = None
    state: VisitState = VisitState.PLANNED
    assigned_nurses: tuple[Identifier, ...] = Field(
        default=(),
        description="for en_route/started/done: who is on it (two for a two-person visit)",
    )
    started_at: Seconds | None = Field(
        default=None, description="for started/done: when service started"
    )
    published_nurse: Identifier | None = Field(
        default=None,
        description="the nurse whose phone already shows this visit; moving it costs stability",
    )
    late_tolerance_seconds: Annotated[int, Field(ge=0, le=24 * 3600)] = Field(
        default=0,
        description=(
            "planned care: the window's end is soft for this many seconds (it may start up to "
            "window.end + tolerance, each minute past window.end costing late_cost_per_minute); "
            "past that the end is hard again. E.g. medication 900, repositioning 3600"
        ),
    )
    late_cost_per_minute: Annotated[int, Field(ge=0, le=10_000_000)] = Field(
        default=0,
        description="planned care: objective cost of each minute past window.end (travel: 60/min)",
    )
    end_margin_seconds: Annotated[int, Field(ge=0, le=24 * 3600)] = Field(
        default=0,
        description=(
            "planned care with a hard window end (no late_tolerance_seconds): starting within "
            "this many seconds of window.end costs end_margin_cost_per_minute per minute, so "
            "the plan keeps room for slower drives and care instead of timing the visit to "
            "the last minute; the window itself stays as it is. Ignored with a tolerance "
            "(its soft end is the room) and for unplanned care"
        ),
    )
    end_margin_cost_per_minute: Annotated[int, Field(ge=0, le=10_000_000)] = Field(
        default=0,
        description="planned care: objective cost of each minute inside end_margin_seconds",
    )
    promised_by: Seconds | None = Field(
        default=None,
        description=(
            "live re-plan, unplanned care: the latest start the partner was promised (the "
            "start it was answered with, or its urgency target if later); a hard limit. Set "
            "by the re-plan from the current plan (`optimizer.replan.hold_promises`), and "
            "left unset when the night's facts already make it impossible"
        ),
    )
    not_by: frozenset[Identifier] = Field(
        default=frozenset(),
        description=(
            "live re-plan: nurses it may not be given (their phones have not picked up a "
            "route change in minutes, so they would not learn of it); set by the service"
        ),
    )
    held: Hold | None = Field(
        default=None,
        description=(
            "kept out of tonight's routes by the caller, reported unassigned with this reason "
            "(e.g. a check whose first care could not be given)"
        ),
    )

    @model_validator(mode="after")
    def _state_is_consistent(self) -> Self:
        if self.state in (VisitState.STARTED, VisitState.DONE) and self.started_at is None:
            raise ValueError(f"started_at is required when state is {self.state.value!r}")
        if self.state != VisitState.PLANNED and len(self.assigned_nurses) != self.nurses_needed:
            raise ValueError(
                f"assigned_nurses must name {self.nurses_needed} nurse(s) when state is "
                f"{self.state.value!r}"
            )
        return self

    @property
    def is_locked(self) -> bool:
        """Whether the solver must leave this visit where it is (started or done)."""
        return self.state in (VisitState.STARTED, VisitState.DONE)


class Dependency(_Frozen):
    """Visit ``second`` starts between ``min_seconds`` and ``max_seconds`` after ``first`` starts.

    "Check 60-90 minutes after the injection" is ``min_seconds=3600, max_seconds=5400``; a
    simultaneous pair (a transfer by two nurses with different skills) is ``[0, tolerance]``.
    ``nurse`` says whether the two visits must go to different nurses, the same nurse, or any.
    Each visit has its own skills; the solver plans both or neither.

    Either may be a two-person visit: then the gap holds from every start of the first to
    every start of the second (its two nurses start within the sync tolerance), so it holds
    whichever nurse's start one reads. ``different``: no nurse of the second is one of the
    first's; ``same``: every nurse of the visit with fewer nurses is one of the other's (a
    check after a two-person transfer by one of the two; two two-person visits by one pair).
    """

    first: Identifier
    second: Identifier
    min_seconds: Annotated[int, Field(ge=0, le=24 * 3600)] = Field(
        description="seconds from the first visit's start to the second's, at least"
    )
    max_seconds: Annotated[int, Field(ge=0, le=24 * 3600)] = Field(
        description="seconds from the first visit's start to the second's, at most"
    )
    nurse: Literal["any", "different", "same"] = "any"

    @model_validator(mode="after")
    def _gap(self) -> Self:
        if self.max_seconds < self.min_seconds:
            raise ValueError(
                f"max_seconds {self.max_seconds} is below min_seconds {self.min_seconds}"
            )
        if self.first == self.second:
            raise ValueError("a visit cannot depend on itself")
        return self

    def label(self) -> str:
        """A short text naming the link, for reasons and violations."""
        low, high = self.min_seconds // 60, self.max_seconds // 60
        return f"{self.second} {low}-{high} min after {self.first}"


class TravelMatrix(_Frozen):
    """Travel seconds between every pair of locations for one profile (``car``, ``bike``)."""

    profile: Identifier
    seconds: Annotated[
        list[
            Annotated[
                list[Annotated[float, Field(ge=0, le=MAX_TRAVEL_SECONDS, allow_inf_nan=False)]],
                Field(max_length=MAX_LOCATIONS),
            ]
        ],
        Field(
            max_length=MAX_LOCATIONS,
            description=(
                "seconds, matrix[from][to], at most a week; a trip longer than the night means "
                "the place cannot be reached tonight (the visit comes back as unreachable)"
            ),
        ),
    ]
    estimated: bool = Field(
        default=False,
        description="true when derived from straight-line distance, not a road network",
    )


class Night(_Frozen):
    """The night itself: when it runs, where the team's base is, and shared rules."""

    start: datetime = Field(description="shift start, with its UTC offset (Europe/Amsterdam)")
    end: datetime
    timezone: str = Field(
        default="Europe/Amsterdam",
        description="IANA zone of the night's wall clock (a night may cross a DST change)",
    )
    base_location: Annotated[int, Field(ge=0)] = 0
    restock_seconds: Annotated[int, Field(ge=0, le=3600)] = Field(
        default=600, description="time a restock stop at the base takes"
    )
    sync_tolerance_seconds: Annotated[int, Field(ge=0, le=1800)] = Field(
        default=120, description="two-person visits: both nurses start within this many seconds"
    )
    restocks_allowed: bool = Field(
        default=True,
        description="whether a nurse may return to the base to refill her bag during the night",
    )
    stability_cost: Annotated[int, Field(ge=0)] = Field(
        default=30 * 60,
        description="objective cost of moving a visit a nurse was already told about",
    )

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("needs a UTC offset, e.g. 2026-11-23T23:00:00+01:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Amsterdam)") from None
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end <= self.start:
            raise ValueError("night end is not after its start")
        if self.end - self.start > timedelta(hours=24):
            raise ValueError("a night lasts at most 24 hours")
        return self

    @property
    def horizon(self) -> int:
        """Seconds from the night's start to its end."""
        return int((self.end - self.start).total_seconds())

    def moment(self, seconds: int) -> datetime:
        """The aware datetime, in the night's ``timezone``, ``seconds`` after its start.

        Counted in elapsed time (through UTC), so a night across the autumn DST change keeps
        its real length: 25200 s after 23:00+02:00 on 24 October 2026 is 05:00+01:00.
        """
        elapsed = self.start.astimezone(UTC) + timedelta(seconds=seconds)
        return elapsed.astimezone(ZoneInfo(self.timezone))

    def clock(self, seconds: int) -> str:
        """The wall-clock time ``HH:MM`` (the night's time zone) ``seconds`` after the start."""
        return self.moment(seconds).strftime("%H:%M")


class Problem(_Frozen):
    """Tonight's routing problem. Construct it, or load it with ``Problem.model_validate_json``.

    Every cross-reference (location indexes, nurse ids in pins, urgency classes, skills,
    matrix shapes) is checked here, with a message naming the field path.
    """

    night: Night
    locations: list[Location] = Field(
        default_factory=list, description="optional coordinates, one per matrix row"
    )
    travel: list[TravelMatrix]
    urgency_classes: dict[str, UrgencyClass] = Field(
        default_factory=lambda: dict(DEFAULT_URGENCY_CLASSES)
    )
    skills: frozenset[str] = Field(default=frozenset(DEFAULT_SKILLS))
    nurses: list[Nurse]
    visits: list[Visit]
    now: Seconds | None = Field(
        default=None,
        description="live re-plan: the current moment; nothing new starts before it",
    )
    dependencies: list[Dependency] = Field(
        default_factory=list,
        description="visits linked in time: second starts min..max seconds after first starts",
    )

    @model_validator(mode="after")
    def _cross_references(self) -> Self:
        problems: list[str] = []
        size = self._check_travel(problems)
        if self.locations and size is not None and len(self.locations) != size:
            problems.append(
                f"locations: {len(self.locations)} given but travel matrices have {size} rows"
            )
        self._check_nurses(problems, size)
        self._check_visits(problems, size)
        self._check_dependencies(problems)
        if size is not None and self.night.base_location >= size:
            problems.append(f"night.base_location: index {self.night.base_location} out of range")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _check_travel(self, problems: list[str]) -> int | None:
        if not self.travel:
            problems.append("travel: at least one travel matrix is required")
            return None
        size: int | None = None
        seen: set[str] = set()
        for t, matrix in enumerate(self.travel):
            if matrix.profile in seen:
                problems.append(f"travel[{t}].profile: {matrix.profile!r} given twice")
            seen.add(matrix.profile)
            rows = len(matrix.seconds)
            if size is None:
                size = rows
            elif rows != size:
                problems.append(f"travel[{t}].seconds: {rows} rows, expected {size}")
            for r, row in enumerate(matrix.seconds):
                if len(row) != rows:
                    problems.append(
                        f"travel[{t}].seconds[{r}]: {len(row)} columns, expected {rows} "
                        "(the matrix must be square)"
                    )
                    break
        if size == 0:
            problems.append("travel[0].seconds: the matrix is empty")
        return size

    def _check_nurses(self, problems: list[str], size: int | None) -> None:
        profiles = {m.profile for m in self.travel}
        ids: set[str] = set()
        for n, nurse in enumerate(self.nurses):
            where = f"nurses[{n}]"
            if nurse.id in ids:
                problems.append(f"{where}.id: {nurse.id!r} is not unique")
            ids.add(nurse.id)
            if nurse.profile not in profiles:
                problems.append(f"{where}.profile: no travel matrix for {nurse.profile!r}")
            for field in ("start_location", "end_location", "current_location"):
                index = getattr(nurse, field)
                if index is not None and size is not None and index >= size:
                    problems.append(f"{where}.{field}: index {index} out of range (0..{size - 1})")
            for skill in sorted(nurse.skills - self.skills):
                problems.append(f"{where}.skills: unknown skill {skill!r}")
            for item, quantity in (nurse.bag_now or {}).items():
                if quantity > nurse.bag.get(item, 0):
                    problems.append(f"{where}.bag_now.{item}: more than a full bag holds")
            if nurse.shift.end > self.night.horizon:
                problems.append(f"{where}.shift.end: after the night's end")
            if nurse.break_rule is not None and not (
                nurse.shift.start <= nurse.break_rule.window.start
                and nurse.break_rule.window.end <= nurse.shift.end
            ):
                problems.append(f"{where}.break_rule.window: outside the nurse's shift")

    def _check_visits(self, problems: list[str], size: int | None) -> None:
        nurse_ids = {nurse.id for nurse in self.nurses}
        ids: set[str] = set()
        for v, visit in enumerate(self.visits):
            where = f"visits[{v}]"
            if visit.id in ids:
                problems.append(f"{where}.id: {visit.id!r} is not unique")
            ids.add(visit.id)
            if size is not None and visit.location >= size:
                problems.append(
                    f"{where}.location: index {visit.location} out of range (0..{size - 1})"
                )
            urgency = self.urgency_classes.get(visit.urgency)
            if urgency is None:
                problems.append(
                    f"{where}.urgency: unknown class {visit.urgency!r} "
                    f"(known: {', '.join(sorted(self.urgency_classes))})"
                )
            elif urgency.target_seconds is None and visit.window is None:
                problems.append(f"{where}.window: required for planned care")
            elif urgency.target_seconds is not None and visit.call_time is None:
                problems.append(f"{where}.call_time: required for urgency {visit.urgency!r}")
            if visit.window is not None and visit.window.end > self.night.horizon:
                problems.append(f"{where}.window.end: after the night's end")
            for skill in sorted(visit.required_skills - self.skills):
                problems.append(f"{where}.required_skills: unknown skill {skill!r}")
            if visit.pin is not None and visit.pin.nurse not in nurse_ids:
                problems.append(f"{where}.pin.nurse: unknown nurse {visit.pin.nurse!r}")
            for nurse_id in visit.assigned_nurses:
                if nurse_id not in nurse_ids:
                    problems.append(f"{where}.assigned_nurses: unknown nurse {nurse_id!r}")
            if visit.published_nurse is not None and visit.published_nurse not in nurse_ids:
                problems.append(f"{where}.published_nurse: unknown nurse {visit.published_nurse!r}")

    def _check_dependencies(self, problems: list[str]) -> None:
        by_id = {visit.id: visit for visit in self.visits}
        seen: set[tuple[str, str]] = set()
        for d, link in enumerate(self.dependencies):
            where = f"dependencies[{d}]"
            for field in ("first", "second"):
                visit = by_id.get(getattr(link, field))
                if visit is None:
                    problems.append(f"{where}.{field}: unknown visit {getattr(link, field)!r}")
            pair = (min(link.first, link.second), max(link.first, link.second))
            if pair in seen:
                problems.append(f"{where}: {link.first!r} and {link.second!r} are linked twice")
            seen.add(pair)

    # ----------------------------------------------------------------- lookups

    def dependencies_of(self, visit_id: str) -> list[Dependency]:
        """The dependencies that name ``visit_id`` (as first or second)."""
        return [d for d in self.dependencies if visit_id in (d.first, d.second)]

    def matrix(self, profile: str) -> list[list[float]]:
        """The travel seconds for ``profile``."""
        for travel in self.travel:
            if travel.profile == profile:
                return travel.seconds
        raise KeyError(profile)

    def travel_seconds(self, profile: str, origin: int, destination: int) -> int:
        """Whole seconds from ``origin`` to ``destination`` (rounded up, never optimistic)."""
        return math.ceil(self.matrix(profile)[origin][destination])

    @property
    def travel_estimated(self) -> bool:
        """Whether any travel time is a straight-line estimate rather than road travel."""
        return any(matrix.estimated for matrix in self.travel)

    # Lookups built once per visit list. model_copy() shares or replaces the list, so keying
    # the cache on the list object itself keeps it right after copies with new visits.
    _lookup: tuple[list[Visit], dict[str, Visit], dict[str, list[Visit]]] | None = PrivateAttr(
        default=None
    )

    def _lookups(self) -> tuple[dict[str, Visit], dict[str, list[Visit]]]:
        # Read the private attribute from pydantic's own dict: `self._lookup` goes through
        # BaseModel.__getattr__ (about 5 us here), and the quote looks visits up thousands of
        # times per call (a quarter of its time at 50 x 1000).
        private = self.__pydantic_private__
        cached = private.get("_lookup") if private is not None else None
        if cached is not None and cached[0] is self.visits:
            return cached[1], cached[2]
        by_id = {visit.id: visit for visit in self.visits}
        locked: dict[str, list[Visit]] = {}
        for visit in self.visits:
            if visit.is_locked:
                for nurse_id in visit.assigned_nurses:
                    locked.setdefault(nurse_id, []).append(visit)
        for visits in locked.values():
            visits.sort(key=lambda v: (v.started_at or 0, v.id))
        self._lookup = (self.visits, by_id, locked)
        return by_id, locked

    @property
    def locked_visits_by_nurse(self) -> dict[str, list[Visit]]:
        """Started and finished visits per nurse, in the order she did them."""
        return self._lookups()[1]

    def visit(self, visit_id: str) -> Visit:
        """The visit with ``visit_id``."""
        return self._lookups()[0][visit_id]

    def nurse(self, nurse_id: str) -> Nurse:
        """The nurse with ``nurse_id``."""
        for nurse in self.nurses:
            if nurse.id == nurse_id:
                return nurse
        raise KeyError(nurse_id)

    def target(self, visit: Visit) -> TimeWindow:
        """The interval in which ``visit`` should start: its window, or call + class target.

        For unplanned care the end is the soft urgency target, not a hard limit.
        """
        urgency = self.urgency_classes[visit.urgency]
        if urgency.target_seconds is None:
            assert visit.window is not None
            return visit.window
        call = visit.call_time or 0
        return TimeWindow(start=call, end=call + urgency.target_seconds)

    def is_planned_care(self, visit: Visit) -> bool:
        """Whether the visit's window is a hard, agreed window (not an urgency target)."""
        return self.urgency_classes[visit.urgency].target_seconds is None
