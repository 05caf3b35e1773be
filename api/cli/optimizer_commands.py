"""`nachtroute` subcommands of the optimizer: solve, evaluate, quote, schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from api.cli._errors import UserInputError, describe, load_model
from optimizer.evaluate import evaluate
from optimizer.model import Problem, Visit
from optimizer.plan import Plan
from optimizer.quote import quote
from optimizer.solve import solve

__all__ = ["print_plan", "register"]


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    """Add the optimizer's subcommands."""
    p = subcommands.add_parser("solve", help="plan a night: routes for every nurse")
    p.add_argument("problem", type=Path, help="PROBLEM.json (see `nachtroute schema problem`)")
    p.add_argument("--time-limit", type=_positive, default=5.0, metavar="S")
    p.add_argument("--out", type=Path, metavar="PLAN.json", help="write the plan as JSON")
    p.set_defaults(handler=_solve)

    p = subcommands.add_parser("evaluate", help="time hand-made routes and list broken rules")
    p.add_argument("problem", type=Path)
    p.add_argument("routes", type=Path, help='ROUTES.json: {"N1": ["V1", "restock", "V7"], ...}')
    p.add_argument("--out", type=Path, metavar="PLAN.json")
    p.set_defaults(handler=_evaluate)

    p = subcommands.add_parser("quote", help="where could a new visit go, per nurse, best first")
    p.add_argument("problem", type=Path)
    p.add_argument("plan", type=Path, help="the current PLAN.json")
    p.add_argument("visit", type=Path, help="VISIT.json: the new visit (its location indexed)")
    p.set_defaults(handler=_quote)

    p = subcommands.add_parser("schema", help="print a JSON schema")
    p.add_argument("which", choices=sorted(_SCHEMAS))
    p.set_defaults(handler=_schema)


_SCHEMAS: dict[str, type[BaseModel]] = {"problem": Problem, "plan": Plan, "visit": Visit}


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _solve(args: argparse.Namespace) -> int:
    problem = load_model(Problem, args.problem)

    def progress(message: str) -> None:
        print(f"nachtroute: {message}", file=sys.stderr)

    plan = solve(problem, time_limit=args.time_limit, progress=progress)
    _write(plan, args.out)
    print_plan(problem, plan)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    problem = load_model(Problem, args.problem)
    try:
        routes = json.loads(Path(args.routes).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UserInputError(f"{args.routes}: not a readable JSON file ({error})") from None
    if not isinstance(routes, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)
        for k, v in routes.items()
    ):
        raise UserInputError(f"{args.routes}: expected an object of nurse id -> list of visit ids")
    try:
        plan = evaluate(problem, routes)
    except ValueError as error:
        raise UserInputError(f"{args.routes}: {error}") from None
    _write(plan, args.out)
    print_plan(problem, plan)
    return 1 if plan.violations else 0


def _quote(args: argparse.Namespace) -> int:
    problem = load_model(Problem, args.problem)
    plan = load_model(Plan, args.plan)
    visit = load_model(Visit, args.visit)
    try:
        with_visit = Problem.model_validate(
            {
                **problem.model_dump(),
                "visits": [*problem.model_dump()["visits"], visit.model_dump()],
            }
        )
    except ValidationError as error:
        raise UserInputError(
            f"{args.visit}: does not fit the problem:\n  {describe(error)}"
        ) from None
    for option in quote(with_visit, plan, visit):
        status = "ok  " if option.feasible else "no  "
        where = f"at stop {option.position:<3}" + (
            " after a restock" if option.restock_before else ""
        )
        print(
            f"{status}{option.nurse_id:<8} {where} "
            f"eta {problem.night.clock(option.eta)}  late {option.lateness_seconds // 60:>3} min  "
            f"+travel {option.added_travel_seconds // 60:>3} min  "
            f"others late +{option.added_lateness_others_seconds // 60} min  {option.reason}"
        )
    return 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(_SCHEMAS[args.which].model_json_schema(), indent=2))
    return 0


def _write(plan: Plan, out: Path | None) -> None:
    if out is not None:
        try:
            out.write_text(plan.model_dump_json(indent=2), encoding="utf-8")
        except OSError as error:
            raise UserInputError(f"{out}: cannot write the plan ({error.strerror})") from None


def print_plan(problem: Problem, plan: Plan, *, file: Any = None) -> None:
    """Print a plan as a table a planner can read at a glance."""
    lines: list[str] = []
    clock = problem.night.clock
    estimated = " (travel: straight-line estimates)" if plan.summary.travel_estimated else ""
    span = f"{clock(0)}-{clock(problem.night.horizon)}"
    lines.append(f"Night of {problem.night.moment(0):%Y-%m-%d}, {span}{estimated}")
    for route in plan.routes:
        driving = route.travel_seconds // 60
        lines.append(f"\n{route.nurse_id}: {route.visit_count} visits, {driving} min driving")
        header = f"  {'arrive':>6} {'start':>6} {'end':>6}  {'what':<8} {'visit':<10}"
        lines.append(f"{header} {'urgency':<8} note")
        for step in route.steps:
            visit = problem.visit(step.visit_id) if step.visit_id else None
            note = []
            if step.waiting_seconds >= 60:
                note.append(f"waits {step.waiting_seconds // 60} min")
            if step.lateness_seconds > 0:
                note.append(f"LATE {step.lateness_seconds // 60} min")
            if visit is not None and visit.nurses_needed == 2:
                note.append("two-person")
            if visit is not None and visit.state.value != "planned":
                note.append(visit.state.value)
            times = f"{clock(step.arrival):>6} {clock(step.start):>6} {clock(step.end):>6}"
            what = f"{step.type.value:<8} {step.visit_id or '':<10}"
            lines.append(f"  {times}  {what} {visit.urgency if visit else '':<8} {', '.join(note)}")
    summary = plan.summary
    driving = summary.travel_seconds // 60
    lines.append(f"\nPlanned {summary.visits_planned} visits; driving {driving} min in all.")
    late = ", ".join(f"{k}: {v}" for k, v in summary.late_visits_by_urgency.items() if v)
    lines.append(f"Late against urgency targets: {late or 'none'}")
    if plan.unassigned:
        lines.append(f"Not planned ({len(plan.unassigned)}):")
        for item in plan.unassigned:
            reason = f"{item.message} [{item.reason.value}]"
            lines.append(f"  {item.visit_id} ({item.urgency}): {reason}")
    if plan.violations:
        lines.append(f"Broken rules ({len(plan.violations)}):")
        lines.extend(f"  {v.code}: {v.message}" for v in plan.violations)
    print("\n".join(lines), file=file or sys.stdout)
