"""The region's rule for planned care versus calls: per care type, a tolerance past the
window's end that an acute or urgent call may use, at a cost per minute (issue 11).

Set from `Settings.planned_tolerance_minutes` / `planned_late_cost_per_minute` when the app
starts (one rule per process, as the road network is); `planning.build_problem` puts it on each
planned visit (`optimizer.model.Visit.late_tolerance_seconds`, ``late_cost_per_minute``), so
the solver may start a planned visit up to ``window.end + tolerance``, each minute past the
window costing the given amount (travel costs 60 per minute, a minute of an acute call late
100,000), and never later. Care types without a tolerance keep a hard window end; for those
the rule's margin (`Settings.planned_end_margin_minutes`, ``..._cost_per_minute``) makes each
minute of a start in the last minutes before the end cost (`Visit.end_margin_seconds`), so a
plan does not time them to the last minute, where a slower drive makes them late.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from api.core.config import Settings

__all__ = ["ToleranceRule", "current_rule", "use_tolerance"]


@dataclass(frozen=True)
class ToleranceRule:
    """Minutes past the window per care task, and the cost of each such minute."""

    minutes: dict[str, int] = field(default_factory=dict)
    cost_per_minute: int = 0
    margin_minutes: int = 0
    margin_cost_per_minute: int = 0

    def for_task(self, care_task: str) -> tuple[int, int]:
        """``(tolerance seconds, cost per minute)`` for a planned visit of ``care_task``."""
        minutes = self.minutes.get(care_task, 0)
        return (minutes * 60, self.cost_per_minute) if minutes > 0 else (0, 0)

    def margin_for_task(self, care_task: str) -> tuple[int, int]:
        """``(margin seconds, cost per minute)`` before the hard end of a planned visit of
        ``care_task``; ``(0, 0)`` when the task has a tolerance (its soft end is the room)."""
        if self.minutes.get(care_task, 0) > 0 or self.margin_minutes <= 0:
            return 0, 0
        if self.margin_cost_per_minute <= 0:
            return 0, 0
        return self.margin_minutes * 60, self.margin_cost_per_minute


_current = ToleranceRule()


def use_tolerance(settings: Settings) -> ToleranceRule:
    """Take the rule of ``settings`` for this process."""
    global _current  # one rule per process, chosen at start-up (like the road network)
    _current = ToleranceRule(
        minutes=dict(settings.planned_tolerance_minutes),
        cost_per_minute=settings.planned_late_cost_per_minute,
        margin_minutes=settings.planned_end_margin_minutes,
        margin_cost_per_minute=settings.planned_end_margin_cost_per_minute,
    )
    return _current


def current_rule() -> ToleranceRule:
    """The rule in force."""
    return _current
