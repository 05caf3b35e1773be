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
    #: why: triage_no, not_planned, deadline, no_entry (key safe), night_end
    reason: str | None = None

    @property
    def response(self) -> float | None:
        """Minutes from the call until care began (``None``: the team never began)."""
        return None if self.start is None else self.start - self.minute


@dataclass
class PlannedOutcome:
    """Planned care: its window and when care began (``None``: not by the team)."""

    key: str
    care_task: str
    window: tuple[int, int]
    start: float | None = None
    handed_off: bool = False
    reason: str | None = None

    @property
    def late(self) -> float:
        """Minutes past the window's end (0 inside it)."""
        return 0.0 if self.start is None else max(0.0, self.start - self.window[1])


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
