"""The simulator's parameters: every number with its reason or source (one file).

Sources: ``../shared/seeds/README.md`` (the Samen Zorg Assen case,
``002_31c36f5ce0460b30.txt``: four home-care organisations share one night team of three
night nurses for acute nursing care, "drie nachtzorgmedewerkers ... voor de acute
verpleegkundige zorg"; a partner's triage team is the back-up "tijdens drukte en
calamiteiten", so a triage "no" that sends the back-up in a busy moment is part of the design,
not a failure of it; clients are not woken for care that can be given by day, "cliënten niet
onnodig storen met zorg die overdag ook geleverd kan worden", so planned night care is the
exception). The seeds give **no numbers** for calls per night, the urgency mix, care minutes,
fault rates or tolerances (checked, session 18): every default below is an assumption, said
so, chosen to be a busy but ordinary night for three nurses so the targets are tested, not
trivially met, and none was changed to meet a target. Override any field from JSON
(``nachtroute simulate --params FILE``); unknown fields are refused.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SimParams"]

Share = Annotated[float, Field(ge=0, le=1)]
#: Care and delay minutes as the service takes them (`api.schemas.requests.Minutes`): out of
#: range they were refused only mid-night, by the service, or broke the generator.
CareMinutes = Annotated[int, Field(ge=1, le=240)]
#: Calls per hour: finite, and far above any night team's (a larger rate only made the
#: generator run out of memory).
CallRate = Annotated[float, Field(ge=0, le=60, allow_inf_nan=False)]


class SimParams(BaseModel):
    """Units: minutes, counts per night, shares in [0, 1]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recurring_clients: int = Field(
        default=24,
        ge=0,
        le=150,
        description=(
            "clients with recurring planned night care, spread over the four demo "
            "organisations. Assumption: 6 per organisation; with 3 nurses and ~15 min care "
            "this fills about a third of the team's night, leaving room for calls"
        ),
    )
    one_off_planned: int = Field(
        default=4,
        ge=0,
        le=50,
        description="extra planned visits posted on the evening itself (assumption)",
    )
    calls_by_hour: list[CallRate] = Field(
        default=[1.6, 1.4, 1.0, 0.8, 0.7, 0.8, 1.0, 1.2],
        min_length=8,
        max_length=8,
        description=(
            "expected unplanned calls per hour from 23:00 to 07:00 (Poisson). Assumption: "
            "alarm calls peak late evening and early morning (getting to bed, getting up), "
            "about 8.5 per night for the region"
        ),
    )
    urgency_mix: dict[str, Share] = Field(
        default={"acute": 0.45, "urgent": 0.35, "soon": 0.20},
        description=(
            "share of calls per urgency after triage (acute 30 min, urgent 60, soon 120 "
            "minutes: optimizer.model.DEFAULT_URGENCY_CLASSES). Assumption: alarm calls at "
            "night are mostly falls and toileting, i.e. acute or urgent"
        ),
    )
    call_service_minutes: list[CareMinutes] = Field(
        default=[15, 20, 20, 30],
        min_length=1,
        description="nominal care minutes of a call (drawn uniformly; assumption)",
    )
    service_spread: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.25,
        description=(
            "care takes nominal x lognormal(0, spread) minutes: a quarter either way is "
            "common (assumption)"
        ),
    )
    travel_spread: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.15,
        description="a drive takes the network's time x lognormal(0, spread) (assumption)",
    )
    key_safe_fails: Share = Field(
        default=0.03,
        description=(
            "chance a key safe will not open (the nurse reports could_not_get_in after "
            "trying for key_safe_minutes; the visit goes to the back-up). Assumption"
        ),
    )
    key_safe_minutes: int = Field(default=10, ge=1, le=60)
    nurse_delayed: Share = Field(
        default=0.3,
        description="chance per night that one nurse is held up (a visit running over)",
    )
    delay_minutes: list[CareMinutes] = Field(default=[15, 30], min_length=2, max_length=2)
    phone_offline: Share = Field(
        default=0.3,
        description=(
            "chance per night that one phone is offline for offline_minutes, then sends its "
            "batch (rural dead spots; assumption)"
        ),
    )
    offline_minutes: int = Field(default=60, ge=5, le=240)
    restart: Share = Field(
        default=0.3, description="chance per night of a service restart at a random hour"
    )
    backup_after_minutes: int = Field(
        default=30,
        ge=0,
        le=240,
        description=(
            "a visit still unassigned this long past its target (call: target; planned: "
            "window end, or its tolerance when longer) is handed to the back-up partner by "
            "the triage/home-care partner"
        ),
    )
    # The service's own range (`Settings.planned_tolerance_minutes`): beyond it the served
    # process refused to start, exit 1 without naming the field.
    tolerance_minutes: dict[str, Annotated[int, Field(ge=0, le=240)]] = Field(
        default={"medication": 15, "turn": 60, "wound": 30},
        description=(
            "the region's tolerance past a planned window per care type, counted as "
            "'late by N min, within tolerance' (issue 11's example numbers)"
        ),
    )

    apply_tolerance: bool = Field(
        default=True,
        description=(
            "serve with the tolerance rule above (NACHTROUTE_PLANNED_TOLERANCE_MINUTES); "
            "false: planned windows are hard, to measure what the rule does"
        ),
    )

    def planned_deadline(self, care_task: str, window_end: float) -> float:
        """Minutes from 23:00 after which planned care not yet placed goes to the back-up:
        the window's end plus ``backup_after_minutes``, or plus its tolerance when that is
        longer and served (the service may still place it until then)."""
        tolerance = self.tolerance_minutes.get(care_task, 0) if self.apply_tolerance else 0
        return window_end + max(self.backup_after_minutes, tolerance)

    @model_validator(mode="after")
    def _mix_sums_to_one(self) -> SimParams:
        total = sum(self.urgency_mix.values())
        if abs(total - 1) > 1e-6 or set(self.urgency_mix) - {"acute", "urgent", "soon"}:
            raise ValueError("urgency_mix: shares of acute, urgent, soon summing to 1")
        if self.delay_minutes[0] > self.delay_minutes[1]:
            raise ValueError("delay_minutes: [least, most], the least first")
        return self
