"""Figures per policy over many nights: the issue's metrics, a table, charts and JSON.

What counts (docs/simulation.md): a call is reached when a nurse is **on site** within its
target, whether or not the key safe then opens (a key safe that will not open is a hand-off,
counted apart). ``{urgency}_within_target`` is over the calls the team took on (triage was
told yes); ``{urgency}_within_target_all_calls`` is over every call, a triage "no" (the
back-up sent at once) counted as not reached, so both denominators are shown. Planned care
is inside its window when the team was there (ready to begin) by the window's end. Response
times are from the call until a nurse was on site, of the calls a nurse reached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from api.simulation.records import NightRecord

__all__ = ["JSON_KEYS", "chart", "summarise", "table"]

TARGET_MINUTES = {"acute": 30, "urgent": 60, "soon": 120}
JSON_KEYS = (
    "acute_within_target",
    "acute_within_target_all_calls",
    "urgent_within_target",
    "planned_in_window",
    # The figure issue 11's target speaks of (care inside its window or the region's
    # tolerance past it); ``planned_in_window`` alone counts a tolerated late start as a miss.
    "planned_in_window_or_tolerance",
    "p90_response_minutes",
    "driving_minutes",
    "handoffs",
)


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``None`` for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summarise(
    records: Sequence[NightRecord], tolerance: dict[str, int] | None = None
) -> dict[str, Any]:
    """One policy's nights: shares in [0, 1], minutes (mean per night for driving/overtime)."""
    tolerance = tolerance or {}
    nights = max(1, len(records))
    result: dict[str, Any] = {}
    for urgency, target in TARGET_MINUTES.items():
        calls = [c for r in records for c in r.calls if c.urgency == urgency]
        taken = [c for c in calls if c.reason != "triage_no"]
        responses = [c.response for c in calls if c.response is not None]
        within = sum(1 for x in responses if x <= target)
        result[f"{urgency}_calls"] = len(calls)
        result[f"{urgency}_taken_on"] = len(taken)
        result[f"{urgency}_within_target"] = round(within / len(taken), 4) if taken else None
        result[f"{urgency}_within_target_all_calls"] = (
            round(within / len(calls), 4) if calls else None
        )
        result[f"{urgency}_no_entry"] = sum(1 for c in calls if c.reason == "no_entry")
        said_no: dict[str, int] = {}
        for c in calls:
            if c.reason == "triage_no":
                said_no[c.triage_reason or "error"] = said_no.get(c.triage_reason or "error", 0) + 1
        result[f"{urgency}_triage_no"] = dict(sorted(said_no.items()))
        late_why: dict[str, int] = {}
        for c in calls:
            if c.response is not None and c.response > target:
                cause = c.late_reason or "not_known"
                late_why[cause] = late_why.get(cause, 0) + 1
        result[f"{urgency}_late_by_reason"] = dict(sorted(late_why.items()))
        result[f"{urgency}_mean_response_minutes"] = (
            round(sum(responses) / len(responses), 1) if responses else None
        )
        p90 = _percentile(responses, 90)
        result[f"{urgency}_p90_response_minutes"] = None if p90 is None else round(p90, 1)
    planned = [p for r in records for p in r.planned]
    done = [p for p in planned if p.arrived is not None]
    inside = [p for p in done if p.late == 0]
    tolerated = [p for p in done if 0 < p.late <= tolerance.get(p.care_task, 0)]
    late = [p.late for p in done if p.late > 0]
    result.update(
        planned_visits=len(planned),
        planned_in_window=round(len(inside) / len(planned), 4) if planned else None,
        planned_in_window_or_tolerance=(
            round((len(inside) + len(tolerated)) / len(planned), 4) if planned else None
        ),
        planned_late_mean_minutes=round(sum(late) / len(late), 1) if late else 0.0,
        planned_late_max_minutes=round(max(late), 1) if late else 0.0,
        p90_response_minutes=result["acute_p90_response_minutes"],
        driving_minutes=round(sum(r.driving_minutes for r in records) / nights, 1),
        overtime_minutes=round(sum(r.overtime_minutes for r in records) / nights, 1),
        handoffs=sum(1 for r in records for c in r.calls if c.handed_off)
        + sum(1 for p in planned if p.handed_off),
    )
    misses: dict[str, int] = {}
    for p in planned:
        miss = p.miss(tolerance.get(p.care_task, 0))
        if miss is not None:
            misses[miss] = misses.get(miss, 0) + 1
    result["planned_misses_by_reason"] = dict(sorted(misses.items()))
    reasons: dict[str, int] = {}
    for r in records:
        why = [c.reason for c in r.calls if c.handed_off]
        why += [p.reason for p in r.planned if p.handed_off]
        for reason in why:
            reasons[reason or "other"] = reasons.get(reason or "other", 0) + 1
    result["handoff_reasons"] = dict(sorted(reasons.items()))
    return result


def _cell(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    if percent:
        return f"{100 * value:.1f} %"
    return f"{value}"


def table(summaries: dict[str, dict[str, Any]], nights: int) -> str:
    """A markdown table, one column per policy."""
    names = list(summaries)
    rows: list[tuple[str, str | tuple[str, str], bool]] = [
        ("acute calls: all / taken on (triage yes)", ("acute_calls", "acute_taken_on"), False),
        ("acute on site within 30 min, of calls taken on", "acute_within_target", True),
        ("acute on site within 30 min, of all calls", "acute_within_target_all_calls", True),
        ("acute: key safe would not open (on site)", "acute_no_entry", False),
        ("acute: triage told no, why", "acute_triage_no", False),
        ("acute on site past 30 min, why", "acute_late_by_reason", False),
        (
            "acute mean / p90 response (min)",
            ("acute_mean_response_minutes", "acute_p90_response_minutes"),
            False,
        ),
        (
            "urgent within 60 min, of taken on / of all",
            ("urgent_within_target", "urgent_within_target_all_calls"),
            True,
        ),
        (
            "urgent mean / p90 response (min)",
            ("urgent_mean_response_minutes", "urgent_p90_response_minutes"),
            False,
        ),
        ("soon within 120 min", "soon_within_target", True),
        ("planned care inside its window", "planned_in_window", True),
        ("planned inside window or tolerance", "planned_in_window_or_tolerance", True),
        (
            "planned late: mean / max (min)",
            ("planned_late_mean_minutes", "planned_late_max_minutes"),
            False,
        ),
        ("planned outside window and tolerance, why", "planned_misses_by_reason", False),
        ("driving minutes per night", "driving_minutes", False),
        ("overtime minutes per night", "overtime_minutes", False),
        ("hand-offs to the back-up (all nights)", "handoffs", False),
        ("hand-offs by reason", "handoff_reasons", False),
    ]
    lines = [
        f"| {nights} night(s) | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, key, percent in rows:
        cells: list[str] = []
        for name in names:
            s = summaries[name]
            if isinstance(key, tuple):
                cells.append(" / ".join(_cell(s[str(k)], percent) for k in key))
            else:
                cells.append(_cell(s[str(key)], percent))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chart(records: dict[str, list[NightRecord]], path: Path) -> Path:
    """Response times per urgency and policy (box plots) against the targets, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(12, 4), sharey=False)
    for axis, (urgency, target) in zip(axes, TARGET_MINUTES.items(), strict=True):
        data = [
            [
                c.response
                for r in recs
                for c in r.calls
                if c.urgency == urgency and c.response is not None
            ]
            or [0.0]
            for recs in records.values()
        ]
        axis.boxplot(data, showfliers=True)
        axis.set_xticks(range(1, len(records) + 1), list(records), rotation=15)
        axis.axhline(target, color="red", linestyle="--", label=f"target {target} min")
        axis.set_title(f"{urgency}: minutes from call to care")
        axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
