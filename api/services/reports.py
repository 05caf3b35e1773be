"""Monthly feedback per organisation: what happened, how fast, and each one's cost share.

Read from the database only (visits of the nights whose evening falls in the month). Units:
minutes, euros (cents inside, so the shares add up to the total exactly).

Cost rule (`Settings.cost_*`, the region's agreement, as in the Assen pilot: one party drives
the night, the others contribute per use): the month's cost is ``cost_per_night_eur`` x the
nights the team planned and worked (a plan and at least one nurse on shift: a night planned
with nobody on shift costs nothing); ``cost_fixed_share`` of it is split equally over the
home-care organisations, the rest in proportion to each one's visits done or care minutes
done (``cost_variable_basis``). An organisation added later (``member_since``) shares the
fixed part of the nights that start after it joined only: per night, equally over that night's
members, so a closed month's shares do not change when a partner joins. Rounded to cents,
the remainder cents go to the largest shares, so the shares sum to the total exactly.

Only nights that have ended count. A night still running (or planned ahead) is left out of
the figures, the visits and the cost, and named in ``nights_not_ended``: its share would be
split on the care done so far (an organisation whose care comes after the report was read
would pay only the fixed part) and change as the night goes on. Splitting it on the plan
instead would bill care that may still be cancelled or not get in, and still change. So every
figure a report shows is final; the night is in the first report read after it ends.
"""

from __future__ import annotations

import calendar
import csv
import io
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.db.models import Night, Nurse, Organisation, Shift, Visit

__all__ = ["MonthReport", "OrganisationFigures", "VisitRow", "month_bounds", "month_report"]

TARGET_MINUTES = {"acute": 30, "urgent": 60, "soon": 120}


@dataclass(frozen=True)
class VisitRow:
    """One visit of the month (ids only: no names, no addresses)."""

    night: str
    visit_id: int
    organisation_id: int
    client_id: int
    urgency: str
    status: str
    care_minutes: float
    response_minutes: float | None
    within_target: bool | None
    late_minutes: float | None


@dataclass
class OrganisationFigures:
    """One organisation's month."""

    organisation_id: int
    name: str
    visits: int = 0
    visits_done: int = 0
    care_minutes_done: float = 0.0
    calls: int = 0
    calls_within_target: int = 0
    #: Of ``calls``: handed to the back-up partner (the team could not be there in time).
    calls_handed_off: int = 0
    planned_in_window: int = 0
    planned_done: int = 0
    #: Planned care handed to the back-up partner (not in ``planned_done``).
    planned_handed_off: int = 0
    cost_share_eur: float = 0.0


@dataclass
class MonthReport:
    """The month's figures (one organisation's, or all)."""

    month: str
    nights: list[str]
    total_cost_eur: float
    basis: str
    organisations: list[OrganisationFigures]
    visits: list[VisitRow] = field(default_factory=list)
    #: Planned nights of the month that had not ended when the report was made: left out.
    nights_not_ended: list[str] = field(default_factory=list)

    def csv_files(self) -> dict[str, str]:
        """``organisations.csv`` and ``visits.csv`` as text."""
        files = {}
        for name, rows in (("organisations.csv", self.organisations), ("visits.csv", self.visits)):
            buffer = io.StringIO()
            dicts = [{k: _cell(v) for k, v in asdict(r).items()} for r in rows]
            if dicts:
                writer = csv.DictWriter(buffer, fieldnames=list(dicts[0]))
                writer.writeheader()
                writer.writerows(dicts)
            files[name] = buffer.getvalue()
        return files


#: ``YYYY-MM`` from 2000-01 to 2199-12: the partners' API and the CLI take the same months.
MONTH_PATTERN = r"^2[01]\d\d-(0[1-9]|1[0-2])$"


def month_bounds(month: str) -> tuple[date, date]:
    """First and last evening of ``YYYY-MM`` (`MONTH_PATTERN`); ``ValueError`` naming the
    format."""
    if not re.fullmatch(MONTH_PATTERN, month):
        raise ValueError(
            f"month: YYYY-MM from 2000-01 to 2199-12, e.g. 2026-11, not {month[:20]!r}"
        )
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: text starting ``= + - @`` (or a tab or carriage
    return) would be read as a formula (CSV injection, OWASP), so it gets a leading ``'``."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _split(total_cents: int, weights: list[float]) -> list[int]:
    """``total_cents`` in proportion to ``weights`` (equal if all zero), summing exactly."""
    if not weights:
        return []
    if sum(weights) <= 0:
        weights = [1.0] * len(weights)
    exact = [total_cents * w / sum(weights) for w in weights]
    cents = [int(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: exact[i] - cents[i], reverse=True)
    for i in order[: total_cents - sum(cents)]:
        cents[i] += 1
    return cents


def month_report(
    session: Session,
    settings: Settings,
    month: str,
    *,
    now: datetime,
    organisation_id: int | None = None,
) -> MonthReport:
    """The month's report as of ``now`` (nights that have ended only); with
    ``organisation_id`` that organisation's rows only (its cost share is still computed
    against every organisation's use, as the rule says)."""
    first, last = month_bounds(month)
    planned = list(
        session.scalars(
            select(Night)
            .where(Night.night_date >= first, Night.night_date <= last, Night.plan_version > 0)
            .order_by(Night.night_date)
        )
    )
    not_ended = [n for n in planned if now < n.ends_at]
    ended = [n for n in planned if n.ends_at <= now]
    dates = {n.id: n.night_date.isoformat() for n in ended}
    worked = (
        set(
            session.scalars(
                select(Night.id).where(
                    Night.id.in_(list(dates)),
                    exists().where(
                        Shift.night_date == Night.night_date,
                        Shift.nurse_id == Nurse.id,
                        Nurse.region_id == Night.region_id,
                    ),
                )
            )
        )
        if dates
        else set()
    )
    nights = [n for n in ended if n.id in worked]
    home_care = list(
        session.scalars(
            select(Organisation).where(Organisation.kind == "home_care").order_by(Organisation.id)
        )
    )
    orgs = {o.id: OrganisationFigures(organisation_id=o.id, name=o.name) for o in home_care}
    # Each night's fixed part is split equally over that night's members (those that had
    # joined when it started); an organisation's weight is the sum of its shares of the
    # nights. Weighting by member-nights over the month instead billed one joining on the
    # 24th more than its share of the nights it was a member of.
    members_of = [
        [o.member_since is None or n.starts_at >= o.member_since for o in home_care] for n in nights
    ]
    member_nights = [
        sum(joined[i] / sum(joined) for joined in members_of if any(joined))
        for i in range(len(home_care))
    ]
    rows = []
    visits = session.scalars(
        select(Visit).where(Visit.night_id.in_(list(dates))).order_by(Visit.night_id, Visit.id)
    )
    for visit in visits:
        figures = orgs.get(visit.organisation_id)
        if figures is None:
            continue
        # A hand-off counts against the team (a call missed); care no longer needed does not.
        handed_off = visit.status == "cancelled" and visit.cancel_reason == "handed_to_backup"
        if visit.status == "cancelled" and not handed_off:
            continue
        done = visit.status == "done"
        response = within = late = None
        if visit.started_at is not None and visit.call_time is not None:
            response = (visit.started_at - visit.call_time) / 60
            within = response <= TARGET_MINUTES.get(visit.urgency, 10**9)
        if visit.started_at is not None and visit.window_end is not None:
            late = max(0.0, (visit.started_at - visit.window_end) / 60)
        care = visit.service_seconds / 60
        figures.visits += 1
        figures.visits_done += done
        figures.care_minutes_done += care if done else 0.0
        if visit.call_time is not None:
            figures.calls += 1
            figures.calls_within_target += bool(within)
            figures.calls_handed_off += handed_off
        elif handed_off:
            figures.planned_handed_off += 1
        elif done:
            figures.planned_done += 1
            figures.planned_in_window += late == 0
        rows.append(
            VisitRow(
                night=dates[visit.night_id],
                visit_id=visit.id,
                organisation_id=visit.organisation_id,
                client_id=visit.client_id,
                urgency=visit.urgency,
                status="handed_to_backup" if handed_off else visit.status,
                care_minutes=care,
                response_minutes=None if response is None else round(response, 1),
                within_target=within,
                late_minutes=None if late is None else round(late, 1),
            )
        )
    total_cents = round(settings.cost_per_night_eur * 100) * len(nights)
    members = list(orgs.values())
    membership = member_nights
    fixed = _split(round(total_cents * settings.cost_fixed_share), membership)
    use = [
        float(o.visits_done) if settings.cost_variable_basis == "visits" else o.care_minutes_done
        for o in members
    ]
    # A month with no care done splits its variable part as the fixed one: by membership.
    variable = _split(total_cents - sum(fixed), use if sum(use) > 0 else membership)
    for figures, a, b in zip(members, fixed, variable, strict=True):
        figures.cost_share_eur = (a + b) / 100
        figures.care_minutes_done = round(figures.care_minutes_done, 1)
    if organisation_id is not None:
        members = [o for o in members if o.organisation_id == organisation_id]
        rows = [r for r in rows if r.organisation_id == organisation_id]
    return MonthReport(
        month=month,
        nights=[dates[n.id] for n in nights],
        total_cost_eur=total_cents / 100,
        basis=settings.cost_variable_basis,
        organisations=members,
        visits=rows,
        nights_not_ended=[n.night_date.isoformat() for n in not_ended],
    )


def write_report(report: MonthReport, out: Path) -> list[Path]:
    """``report.html`` (matplotlib charts inline) and the CSV files in ``out``."""
    import base64

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in report.csv_files().items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    charts = []
    figure, axes = plt.subplots(1, 3, figsize=(13, 4))
    for axis, (urgency, target) in zip(axes, TARGET_MINUTES.items(), strict=True):
        values = [
            r.response_minutes
            for r in report.visits
            if r.urgency == urgency and r.response_minutes is not None
        ]
        axis.hist(values or [0], bins=12, color="#4a7bb7")
        axis.axvline(target, color="red", linestyle="--", label=f"target {target} min")
        axis.set_title(f"{urgency}: minutes from call to care ({len(values)})")
        axis.legend()
    charts.append(figure)
    figure, axes = plt.subplots(1, 2, figsize=(13, 4))
    names = [str(o.organisation_id) for o in report.organisations]
    axes[0].bar(names, [o.visits_done for o in report.organisations])
    axes[0].set_title("visits done per organisation (id)")
    axes[1].bar(names, [o.care_minutes_done for o in report.organisations])
    axes[1].set_title("care minutes done per organisation (id)")
    charts.append(figure)
    figure, axis = plt.subplots(figsize=(13, 3.5))
    per_night = [
        sum(1 for r in report.visits if r.night == n and r.status == "done") for n in report.nights
    ]
    axis.plot(report.nights, per_night, marker="o")
    axis.set_title("visits done per night")
    axis.tick_params(axis="x", rotation=45)
    charts.append(figure)
    images = []
    for figure in charts:
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80)
        plt.close(figure)
        images.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    table = "".join(
        f"<tr><td>{o.organisation_id}</td><td>{_escape(o.name)}</td><td>{o.visits_done}</td>"
        f"<td>{o.care_minutes_done}</td><td>{o.calls_within_target}/{o.calls}</td>"
        f"<td>{o.calls_handed_off}</td><td>{o.planned_in_window}/{o.planned_done}</td>"
        f"<td>{o.planned_handed_off}</td><td>{o.cost_share_eur:.2f}</td></tr>"
        for o in report.organisations
    )
    html = (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        f"<title>nachtroute report {report.month}</title>"
        f"<h1>Night team report {report.month}</h1>"
        f"<p>{len(report.nights)} nights; total cost EUR {report.total_cost_eur:.2f} "
        "(fixed part split equally over each night's members, "
        f"the rest by {report.basis}).</p>"
        + (
            f"<p>Not ended, left out: {', '.join(report.nights_not_ended)}.</p>"
            if report.nights_not_ended
            else ""
        )
        + "<table border='1'><tr><th>id</th><th>organisation</th><th>visits done</th>"
        "<th>care minutes</th><th>calls within target</th><th>calls to the back-up</th>"
        "<th>planned in window</th><th>planned to the back-up</th>"
        f"<th>cost share EUR</th></tr>{table}</table>"
        + "".join(f"<p><img alt='chart' src='data:image/png;base64,{i}'></p>" for i in images)
        + "</html>\n"
    )
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    written.append(path)
    return written


def _escape(text: str) -> str:
    import html

    return html.escape(text)
