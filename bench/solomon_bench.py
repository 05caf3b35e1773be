"""Solomon VRPTW benchmark through `optimizer.solve`: its tuned search against plain OR-Tools.

Runs ``nachtroute bench solomon`` twice over the development instances (tuned, then
``--baseline``), both at the same wall-clock limit, compares each distance with the
distance-only (``dimacs``) best known solution, and writes the table under the
``## Solomon VRPTW`` heading of ``docs/benchmarks.md`` (that section only).

    python bench/solomon_bench.py [--time-limit 10] [--shared ../shared] [--no-write]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Solomon VRPTW"


def default_shared() -> Path:
    """../shared beside the repository, or two levels up from a git worktree."""
    for candidate in (ROOT.parent / "shared", ROOT.parent.parent / "shared"):
        if (candidate / "bench" / "solomon").is_dir():
            return candidate
    return ROOT.parent / "shared"


def run_cli(files: list[Path], time_limit: float, *, baseline: bool) -> dict[str, dict]:
    """Run the bench command and return its JSON lines keyed by instance name."""
    command = [
        sys.executable,
        "-m",
        "api.cli",
        "bench",
        "solomon",
        *map(str, files),
        "--time-limit",
        str(time_limit),
        "--json",
    ]
    if baseline:
        command.append("--baseline")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        sys.exit(f"bench command failed ({done.returncode}):\n{done.stderr}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {line["instance"]: line for line in lines}


def gap(line: dict, bks: float) -> float | None:
    """Percentage above the best known distance; None when there is no feasible solution."""
    if not line["feasible"] or not line["routes"]:
        return None
    return 100 * (line["distance"] / bks - 1)


def fmt_gap(value: float | None) -> str:
    return "no solution" if value is None else f"{value:+.2f} %"


def mean_or_none(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if len(known) < len(values):
        return f"{sum(known) / len(known):+.2f} % over {len(known)} solved" if known else "-"
    return f"{sum(known) / len(known):+.2f} %"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--shared", type=Path, default=None)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    folder = (args.shared or default_shared()) / "bench" / "solomon"
    files = sorted(folder.glob("*.txt"))
    if not files:
        sys.exit(f"no Solomon instances in {folder}")
    with (folder / "bks.csv").open() as handle:
        bks = {
            row["instance"]: (int(row["vehicles"]), float(row["distance"]))
            for row in csv.DictReader(handle)
            if row["source"] == "dimacs"
        }

    load_before = os.getloadavg()
    print(f"tuned portfolio, {args.time_limit:g} s per instance ...", file=sys.stderr)
    tuned = run_cli(files, args.time_limit, baseline=False)
    load_tuned = os.getloadavg()
    print(f"baseline, {args.time_limit:g} s per instance ...", file=sys.stderr)
    base = run_cli(files, args.time_limit, baseline=True)
    load_after = os.getloadavg()

    rows = [
        "| instance | BKS (veh / dist) | tuned (veh / dist) | tuned gap | s "
        "| baseline (veh / dist) | baseline gap | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    tuned_gaps: list[float | None] = []
    base_gaps: list[float | None] = []
    for path in files:
        name = path.stem
        best_vehicles, best = bks[name]
        t, b = tuned[name], base[name]
        tuned_gaps.append(gap(t, best))
        base_gaps.append(gap(b, best))

        def cell(line: dict) -> str:
            if not line["routes"]:
                return "-"
            mark = "" if line["feasible"] else " (infeasible)"
            return f"{line['vehicles']} / {line['distance']:.1f}{mark}"

        rows.append(
            f"| {name} | {best_vehicles} / {best:.1f} | {cell(t)} | {fmt_gap(tuned_gaps[-1])} "
            f"| {t['seconds']:.1f} | {cell(b)} | {fmt_gap(base_gaps[-1])} | {b['seconds']:.1f} |"
        )
    rows.append(
        f"| **mean** | | | **{mean_or_none(tuned_gaps)}** | | | **{mean_or_none(base_gaps)}** | |"
    )
    table = "\n".join(rows)
    all_feasible = all(line["feasible"] for line in tuned.values())

    section = f"""{HEADING}

Development subset of Solomon's VRPTW instances (100 customers), distance only, DIMACS
convention (each arc truncated to one decimal, vehicle count not minimised), gap to the
`dimacs` best known solutions of `../shared/bench/solomon/bks.csv`. Each instance is solved
by the product's own solver: `optimizer.solomon.problem_from_solomon` makes it a night
(vehicles as nurses with shift = depot window, demand as a night-bag item with the vehicle
capacity, hard windows, every quantity x 10 as integer seconds, restocks forbidden) and
`optimizer.solve` plans it; the routes are read from the returned plan and verified by the
independent checker (`optimizer.solomon.check_solomon`); distance = travel seconds / 10.
{args.time_limit:g} s wall-clock per instance; tuned = `optimizer.solve`'s default search
(`optimizer.search.default_portfolio()`: iterated local search from two node orders, one
forked process each), baseline = the same model and path with `search.baseline_config()`
(PATH_CHEAPEST_ARC + guided local search, one process). Tuned: all {len(files)} solved
feasibly: {"yes" if all_feasible else "NO"}.

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or "this machine"}
({os.cpu_count()} cores, shared with other work, so figures move by a few tenths of a
percent from run to run). Load average (1 / 5 / 15 min) before the run
{_load(load_before)}, after the tuned runs {_load(load_tuned)}, at the end {_load(load_after)};
the tuned portfolio itself keeps 2 cores busy. Command:

    python bench/solomon_bench.py --time-limit {args.time_limit:g}

which runs `nachtroute bench solomon ../shared/bench/solomon/*.txt --time-limit
{args.time_limit:g} --json` (and the same with `--baseline`).

{table}
"""
    print(section)
    if not args.no_write:
        write_section(ROOT / "docs" / "benchmarks.md", section)
    return 0


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def write_section(path: Path, section: str) -> None:
    """Replace (or append) the Solomon section of the benchmarks page, leaving the rest.

    Hand-written ``### `` subsections at the end of the section (tuning notes, earlier
    figures) are kept below the new table.
    """
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == HEADING), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
            len(lines),
        )
        notes = next(
            (i for i in range(start + 1, end) if lines[i].startswith("### ")),
            end,
        )
        kept = "".join(lines[notes:end]).rstrip("\n")
        tail = "".join(lines[end:])
        new = (
            "".join(lines[:start])
            + section
            + ("\n" + kept + "\n" if kept else "")
            + ("\n" + tail if tail else "")
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


if __name__ == "__main__":
    raise SystemExit(main())
