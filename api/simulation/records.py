"""What happened in a night under one policy, in the units the metrics read (minutes)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CallOutcome", "NightRecord", "PlannedOutcome"]


@dataclass
class CallOutcome:
    """An unplanned call: on site at ``start`` (minutes from 23:00) or handed to the back-up."""

    key: str
    urgency: str
    minute: float
    start: float | None = None
    handed_off: bool = False
    #: why: triage_no, not_planned, deadline, no_entry (key safe), no_code (none on her
    #: phone: offline at the door), night_end
    reason: str | None = None
    #: When a nurse was at the door (minutes from 23:00): care began then, or she found
    #: the key safe would not open (``no_entry``: on site, yet handed to the back-up).
    on_site: float | None = None
    #: The triage answer's reason code when it said no (e.g. ``not_in_time``).
    triage_reason: str | None = None
    #: Minutes after the call the service's answer expected a nurse (``None``: no answer).
    answered: float | None = None
    #: Why a call the team took on was on site past its target (service's night only):
    #: answered_late, phone_offline, held_up, noise (the route she set off by had her there
    #: in time: the drive took longer than it said), moved_later (re-plans moved it).
    late_reason: str | None = None
    #: The start her route gave when she set off for it (minutes from 23:00).
    planned_start: float | None = None

    @property
    def response(self) -> float | None:
        """Minutes from the call until a nurse was on site (``None``: none came)."""
        arrived = self.on_site if self.on_site is not None else self.start
        return None if arrived is None else arrived - self.minute


@dataclass
class PlannedOutcome:
    """Planned care: its window and when care began (``None``: not by the team)."""

    key: str
    care_task: str
    window: tuple[int, int]
    start: float | None = None
    handed_off: bool = False
    reason: str | None = None
    #: When a nurse was at the door, ready to begin (window open): ``start``, or the moment
    #: she found the key safe would not open.
    on_site: float | None = None

    #: The service's reason for leaving it unassigned when it was handed off (plan's code).
    unassigned_reason: str | None = None
    #: The start her route gave when she set off for it (minutes from 23:00).
    planned_start: float | None = None

    def miss(self, tolerance_minutes: int = 0) -> str | None:
        """Why the team was not there inside the window or its tolerance (``None``: it was).

        ``left_out`` (never routed before its deadline: handed to the back-up), ``planned_late``
        (the route already had it past the window's tolerance when she set off), ``noise``
        (routed in time, the night's drives, care and delays made it late)."""
        if self.arrived is None:
            return "left_out" if self.handed_off else "not_reached"
        if self.late <= tolerance_minutes:
            return None
        if self.planned_start is not None and self.planned_start > (
            self.window[1] + tolerance_minutes + 0.5
        ):
            return "planned_late"
        return "noise"

    @property
    def arrived(self) -> float | None:
        """When the team was there for it (``None``: it never came)."""
        return self.on_site if self.on_site is not None else self.start

    @property
    def late(self) -> float:
        """Minutes past the window's end the team was there (0 inside it, or never)."""
        arrived = self.arrived
        return 0.0 if arrived is None else max(0.0, arrived - self.window[1])


@dataclass
class NightRecord:
    """One night of one policy."""

    policy: str
    night: int
    calls: list[CallOutcome] = field(default_factory=list)
    planned: list[PlannedOutcome] = field(default_factory=list)
    driving_minutes: float = 0.0
    overtime_minutes: float = 0.0
    violations: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    evening_seconds: float = 0.0
    #: Real seconds the player waited for the service's re-plans (stepped clock), and how
    #: many times it waited: where the wall time of a night goes.
    replan_wait_seconds: float = 0.0
    replan_waits: int = 0
    requests: int = 0
    #: Key-safe codes revealed at the door (each the code the partner set), refusals there
    #: by reason, and reveals tried that the rules must refuse (none may be revealed).
    keysafe_reveals: int = 0
    keysafe_refused: dict[str, int] = field(default_factory=dict)
    keysafe_probes: int = 0
