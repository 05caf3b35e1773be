"""The insertion quote of two source trees on one and the same night and plan, alternating.

    .venv/bin/python bench/quote_ab.py --old ../main [--size 50x1000] [--rounds 3]

`nachtroute bench nights` quotes against the plan its own 10 s search found, so two runs
(old code, new code) quote against different plans; here the night, its plan at 03:12 and
the 30 calls of `night_benchmark.quote_calls` are made once (by this tree) and pickled, then
each tree's `optimizer.quote.quote` is timed on them in a process of its own, old and new in
turn. Times are process CPU milliseconds (a shared machine gives wall time to others);
``same answers`` compares the two trees' options call by call.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

_TIMER = """
import pickle, sys, time
from optimizer.quote import quote
live, plan, calls = pickle.load(open(sys.argv[1], "rb"))
times, answers = [], []
for _ in range(int(sys.argv[3])):
    answers = []
    for asked, call in calls:
        began = time.process_time()
        answers.append(quote(asked, plan, call))
        times.append((time.process_time() - began) * 1000)
pickle.dump((times, answers), open(sys.argv[2], "wb"))
"""


def _fixture(path: Path, nurses: int, visits: int) -> None:
    from optimizer.generate import generated_night
    from optimizer.night_benchmark import alarm_at_0312, quote_calls
    from optimizer.solve import solve

    problem = generated_night(nurses=nurses, visits=visits, seed=0)
    plan = solve(problem, time_limit=3.0)
    live = alarm_at_0312(problem, plan, visits, 0)
    replanned = solve(live, time_limit=0.9, warm_start=plan)
    path.write_bytes(pickle.dumps((live, replanned, quote_calls(live, visits, 0))))


def _timed(tree: Path, fixture: Path, out: Path, repeats: int) -> tuple[list[float], Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-c", _TIMER, str(fixture), str(out), str(repeats)]
    subprocess.run(command, cwd=tree, env=env, check=True)
    times, answers = pickle.loads(out.read_bytes())
    return times, answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the other source tree")
    parser.add_argument("--size", default="50x1000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="passes over the 30 calls")
    args = parser.parse_args()
    nurses, visits = (int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        fixture = Path(folder) / "night.pickle"
        _fixture(fixture, nurses, visits)
        medians: dict[str, list[float]] = {"old": [], "new": []}
        same = True
        for _ in range(args.rounds):
            answers = {}
            for side, tree in (("old", args.old.resolve()), ("new", ROOT)):
                times, answers[side] = _timed(tree, fixture, Path(folder) / side, args.repeats)
                medians[side].append(statistics.median(times))
            same = same and answers["old"] == answers["new"]
    load = os.getloadavg()[0]
    old, new = statistics.median(medians["old"]), statistics.median(medians["new"])
    print(f"{args.size}, {args.rounds} rounds, load {load:.1f} at {time.strftime('%H:%M')}")
    print(f"quote median CPU ms: old {old:.1f}, new {new:.1f}, new/old {new / old:.2f}")
    print(f"per round: old {medians['old']}, new {medians['new']}")
    print(f"same answers: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
