"""The night solver on generated nights of growing size, as a markdown table.

    .venv/bin/python bench/nights_bench.py [--long-limit 10] [--size 3x45 ...]

Runs `nachtroute bench nights` (each size in its own process, every plan checked by the
independent checker) and prints the rows for docs/benchmarks.md. Ratios inside one run:
the insertion quote against the re-plan it saves, the first plan against the time target.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--long-limit", type=float, default=10.0)
    parser.add_argument("--size", action="append")
    args = parser.parse_args()
    command = [sys.executable, "-m", "api.cli", "bench", "nights", "--json"]
    command += ["--long-limit", str(args.long_limit)]
    for size in args.size or []:
        command += ["--size", size]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1]
    )
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    long_key = f"after_{args.long_limit:g}s"
    print(
        "| night | first plan | objective 1 s | objective "
        f"{args.long_limit:g} s | left out | acute late | re-plan first answer | "
        "alarm planned | quote median / p95 | peak memory |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        best = row[long_key]
        print(
            f"| {row['nurses']} x {row['visits']} | {row['first_plan_seconds']:.2f} s "
            f"| {row['after_1s']['objective'] or 'no plan yet'} | {best['objective']} "
            f"| {best['unassigned']} | {best['acute_late']} "
            f"| {row['replan_first_seconds'] * 1000:.0f} ms "
            f"| {'yes' if row['replan']['alarm_planned_first'] else 'no'} "
            f"| {row['quote_ms_median']:.1f} / {row['quote_ms_p95']:.1f} ms "
            f"| {row['peak_rss_mb']} MB |"
        )
    violations = sum(
        row[key]["checker_violations"]
        for row in rows
        for key in ("first_plan", "after_1s", long_key, "replan")
    )
    print(f"\nchecker violations over all plans: {violations}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
