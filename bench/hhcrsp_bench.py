"""HHCRSP benchmark (issue 13) through ``nachtroute bench hhcrsp`` (so `optimizer.solve`):
each development instance's cost, as scored by the independent checker, against its best
known cost, with the load average of the shared machine before and after.

    python bench/hhcrsp_bench.py [--time-limit 30] [--set mankowska|kummer2021|all]
                                 [--only NAME ...] [--shared ../shared]

Prints a markdown table (for docs/benchmarks.md, issue 13 section) and the mean gaps per
size class (10-75 and 100-200 patients). Targets: every solution feasible; mean gap <= 5 %
(10-75), <= 10 % (100-200) at 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = ("hhcrsp-mankowska", "hhcrsp-kummer2021")


def default_shared() -> Path:
    """../shared beside the repository, or two levels up from a git worktree."""
    for candidate in (ROOT.parent / "shared", ROOT.parent.parent / "shared"):
        if (candidate / "bench" / SETS[0]).is_dir():
            return candidate
    return ROOT.parent / "shared"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--set", choices=("mankowska", "kummer2021", "all"), default="all")
    parser.add_argument("--only", nargs="*", default=None, help="instance names to run")
    parser.add_argument("--shared", type=Path, default=default_shared())
    args = parser.parse_args()
    chosen = SETS if args.set == "all" else (f"hhcrsp-{args.set}",)
    rows = []
    for name in chosen:
        folder = args.shared / "bench" / name
        bks = {r["instance"]: r for r in csv.DictReader((folder / "bks.csv").open())}
        files = sorted(
            folder.glob("*.json"),
            key=lambda p: (int(bks[p.stem]["n" if "n" in bks[p.stem] else "n_patients"]), p.name),
        )
        if args.only:
            files = [f for f in files if f.stem in args.only]
        for path in files:
            load_before = os.getloadavg()[0]
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "api.cli",
                    "bench",
                    "hhcrsp",
                    str(path),
                    "--time-limit",
                    str(args.time_limit),
                    "--json",
                ],
                capture_output=True,
                text=True,
                check=False,
                cwd=ROOT,
            )
            lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
            row = bks[path.stem]
            size = int(row.get("n") or row.get("n_patients") or 0)
            best = float(row["bks"])
            line = lines[0] if lines else {"cost": float("inf"), "feasible": False}
            gap = 100 * (line["cost"] / best - 1) if line["feasible"] else float("inf")
            rows.append((name, path.stem, size, best, line, gap, load_before, os.getloadavg()[0]))
            print(
                f"| {path.stem} | {size} | {best:.2f} | {line['cost']:.2f} | {gap:+.1f} % | "
                f"{line.get('distance', 0):.1f} / {line.get('tardiness', 0):.1f} / "
                f"{line.get('max_tardiness', 0):.1f} | {line['feasible']} | "
                f"{line.get('seconds', 0):.1f} | {load_before:.1f} |",
                flush=True,
            )
    for label, low, high in (("10-75", 10, 75), ("100-200", 100, 200)):
        group = [r for r in rows if low <= r[2] <= high]
        gaps = [r[5] for r in group if r[4]["feasible"]]
        if gaps:
            print(
                f"mean gap {label} patients: {sum(gaps) / len(gaps):+.1f} % over the "
                f"{len(gaps)} feasible of {len(group)} (an infeasible one misses the target)"
            )
    feasible = sum(1 for r in rows if r[4]["feasible"])
    print(f"feasible: {feasible}/{len(rows)}")
    return 0 if feasible == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
