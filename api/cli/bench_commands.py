"""`nachtroute` subcommands of benchmarks: bench solomon, bench nights, bench hhcrsp.

``bench`` is a group: this module creates its sub-subparsers, one ``_register_*`` function
each, so ``bench nights`` is added here beside ``bench solomon`` without touching the rest.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from api.cli._errors import UserInputError

__all__ = ["register"]


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``bench`` command group and its subcommands."""
    bench = subcommands.add_parser(
        "bench",
        help="benchmarks of the solver",
        description="Benchmarks of the solver against published and generated instances.",
    )
    group = bench.add_subparsers(dest="bench_command", metavar="BENCHMARK")
    group.required = True
    _register_solomon(group)
    _register_nights(group)
    _register_hhcrsp(group)


def _register_nights(group: argparse._SubParsersAction[Any]) -> None:
    parser = group.add_parser(
        "nights",
        help="the night solver on generated nights (3x45, 10x200, 50x1000)",
        description=(
            "Generated nights of growing size: time to the first plan, objective after 1 s "
            "and after --long-limit seconds, live re-plan latency after an alarm at 03:12, "
            "insertion-quote latency and peak memory. Every plan is checked."
        ),
    )
    parser.add_argument(
        "--size",
        action="append",
        metavar="NURSESxVISITS",
        help="a size such as 10x200 (repeatable; default: 3x45, 10x200, 50x1000)",
    )
    parser.add_argument("--long-limit", type=float, default=10.0, metavar="S")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(handler=_run_nights)


def _parse_size(text: str) -> tuple[int, int]:
    nurses, _, visits = text.lower().partition("x")
    try:
        size = (int(nurses), int(visits))
    except ValueError:
        raise UserInputError(
            f"--size: expected NURSESxVISITS such as 10x200, got {text!r}"
        ) from None
    if not (1 <= size[0] <= 500 and 0 <= size[1] <= 20_000):
        raise UserInputError(f"--size: {text} is out of range (1-500 nurses, 0-20000 visits)")
    return size


def _run_nights(args: argparse.Namespace) -> int:
    from optimizer.night_benchmark import DEFAULT_SIZES, run_night_benchmark

    if not (math.isfinite(args.long_limit) and args.long_limit > 0):
        raise UserInputError(f"--long-limit: must be a positive number, got {args.long_limit}")
    sizes = [_parse_size(s) for s in args.size] if args.size else list(DEFAULT_SIZES)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results = run_night_benchmark(
        sizes, long_limit=args.long_limit, seed=args.seed, progress=progress
    )
    for row in results:
        if args.json:
            print(json.dumps(row))
            continue
        long_key = f"after_{args.long_limit:g}s"
        print(
            f"{row['nurses']:>3} nurses x {row['visits']:>4} visits: "
            f"first plan {row['first_plan_seconds']:.2f} s "
            f"(unassigned {row['first_plan']['unassigned']}), "
            f"objective 1 s {row['after_1s']['objective']}, "
            f"{args.long_limit:g} s {row[long_key]['objective']} "
            f"(unassigned {row[long_key]['unassigned']}; plain GLS "
            f"{row['gls_' + long_key]['objective']}), "
            f"re-plan first {row['replan_first_seconds']:.2f} s, "
            f"quote {row['quote_ms_median']:.1f} ms (p95 {row['quote_ms_p95']:.1f}), "
            f"peak {row['peak_rss_mb']} MB (search process {row['peak_rss_search_process_mb']} MB)"
        )
    return 0


def _register_solomon(group: argparse._SubParsersAction[Any]) -> None:
    parser = group.add_parser(
        "solomon",
        help="solve Solomon VRPTW files (DIMACS distance convention)",
        description=(
            "Solve Solomon VRPTW instance files with the night solver (each instance becomes "
            "a night: vehicles as nurses, demand as a night-bag item, quantities x 10 as "
            "seconds, restocks forbidden), distance only, each arc truncated to one decimal "
            "(DIMACS convention). Prints one line per instance; every solution is verified "
            "by the independent checker."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="Solomon .txt instance files")
    parser.add_argument(
        "--time-limit",
        type=float,
        required=True,
        metavar="S",
        help="wall-clock seconds per instance",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="plain OR-Tools search instead: PATH_CHEAPEST_ARC + guided local search, one core",
    )
    parser.set_defaults(handler=_run_solomon)


def _run_solomon(args: argparse.Namespace) -> int:
    # Imported here so that `nachtroute --help` does not load OR-Tools.
    from optimizer import search, solomon

    if not (math.isfinite(args.time_limit) and args.time_limit > 0):
        raise UserInputError(f"--time-limit: must be a positive number, got {args.time_limit}")
    instances = []
    for name in args.files:
        try:
            instance = solomon.read_solomon(Path(name))
            solomon.problem_from_solomon(instance)  # refuses what cannot be a night (> 24 h)
            instances.append(instance)
        except ValueError as error:
            raise UserInputError(str(error)) from None
    configs = [search.baseline_config()] if args.baseline else None
    all_feasible = True
    for number, instance in enumerate(instances, start=1):
        print(
            f"[{number}/{len(instances)}] {instance.name}: solving for {args.time_limit:g} s",
            file=sys.stderr,
            flush=True,
        )
        result = solomon.solve_solomon(
            instance, time_limit=args.time_limit, seed=args.seed, configs=configs
        )
        all_feasible = all_feasible and result.feasible
        line = {
            "instance": result.instance,
            "vehicles": result.vehicles,
            "distance": result.distance,
            "seconds": round(result.seconds, 2),
            "feasible": result.feasible,
            "routes": [list(route) for route in result.routes],
        }
        if args.json:
            print(json.dumps(line), flush=True)
        else:
            state = "feasible" if result.feasible else "INFEASIBLE"
            print(
                f"{result.instance:8s} vehicles {result.vehicles:3d}  distance "
                f"{result.distance:9.1f}  {result.seconds:5.1f} s  {state}",
                flush=True,
            )
    return 0 if all_feasible else 1


# ------------------------------------------------------------------ issue 13: bench hhcrsp


def _register_hhcrsp(group: argparse._SubParsersAction[Any]) -> None:
    parser = group.add_parser(
        "hhcrsp",
        help="solve home health care routing (HHCRSP) instances in the UniUD JSON format",
        description=(
            "Solve HHCRSP instances (UniUD JSON: skills, double services simultaneous or "
            "sequential, soft window ends) with the night solver and score each solution with "
            "an independent checker of the benchmark's objective, (distance + total tardiness "
            "+ max tardiness) / 3. Prints one line per instance (--json: the instance, cost, "
            "its parts, seconds, feasible and the solution in the UniUD solution format)."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="UniUD JSON instance files")
    parser.add_argument(
        "--time-limit", type=float, required=True, metavar="S", help="wall-clock seconds each"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    parser.set_defaults(handler=_run_hhcrsp)


def _run_hhcrsp(args: argparse.Namespace) -> int:
    from optimizer import hhcrsp

    if not (math.isfinite(args.time_limit) and args.time_limit > 0):
        raise UserInputError(f"--time-limit: must be a positive number, got {args.time_limit}")
    instances = []
    for name in args.files:
        try:
            instance = hhcrsp.read_hhcrsp(Path(name))
            hhcrsp.problem_from_hhcrsp(instance)  # refuses what cannot be a night
        except ValueError as error:
            raise UserInputError(str(error)) from None
        instances.append(instance)
    all_feasible = True
    for number, instance in enumerate(instances, start=1):
        print(
            f"[{number}/{len(instances)}] {instance.name}: solving for {args.time_limit:g} s",
            file=sys.stderr,
            flush=True,
        )
        result = hhcrsp.solve_hhcrsp(instance, time_limit=args.time_limit, seed=args.seed)
        all_feasible = all_feasible and result.report.feasible
        line = hhcrsp.results_line(result)
        if args.json:
            print(json.dumps(line), flush=True)
        else:
            state = "feasible" if result.report.feasible else "INFEASIBLE"
            print(
                f"{instance.name:28s} cost {line['cost']:9.2f}  distance {line['distance']:9.2f}"
                f"  tardiness {line['tardiness']:8.2f}  max {line['max_tardiness']:7.2f}"
                f"  {line['seconds']:5.1f} s  {state}",
                flush=True,
            )
    return 0 if all_feasible else 1
