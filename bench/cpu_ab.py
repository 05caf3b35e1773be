"""CPU seconds of the first plan and of the insertion quote, for A/B runs on a loaded machine.

`nachtroute bench nights` reports wall-clock times, which on this shared 2-core machine vary
about 2x with the load. This measures process CPU time instead (the first plan alone does not
fork), each quote's best of seven, on one stored night state so that two trees (e.g. a
worktree at main) quote exactly the same plan:

    python bench/cpu_ab.py --save /tmp/state.pkl          # in one tree: build the state
    python bench/cpu_ab.py --load /tmp/state.pkl          # in each tree: measure

The state is the one `nachtroute bench nights` quotes at (a generated night's first plan,
live at 03:12 with an alarm, re-planned for 0.9 s), and 30 calls drawn as it draws them.
The answers' digest shows both trees gave the same options.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import statistics
import time

from optimizer.generate import generated_night
from optimizer.model import Problem
from optimizer.night_benchmark import alarm_at_0312, quote_calls
from optimizer.plan import Plan
from optimizer.quote import quote
from optimizer.solve import solve


def build_state(nurses: int, visits: int, seed: int) -> tuple[Problem, Problem, Plan]:
    problem = generated_night(nurses=nurses, visits=visits, seed=seed)
    plan = solve(problem, time_limit=60, first_only=True)
    live = alarm_at_0312(problem, plan, visits, seed)
    return problem, live, solve(live, time_limit=0.9, warm_start=plan)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="50x1000")
    parser.add_argument("--first-plan-size", default="10x200")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save")
    parser.add_argument("--load")
    args = parser.parse_args()
    nurses, visits = map(int, args.size.split("x"))
    live: Problem
    plan: Plan
    if args.load:
        with open(args.load, "rb") as stored:
            _, live, plan = pickle.load(stored)
    else:
        problem, live, plan = build_state(nurses, visits, args.seed)
        if args.save:
            with open(args.save, "wb") as stored:
                pickle.dump((problem, live, plan), stored)

    small_nurses, small_visits = map(int, args.first_plan_size.split("x"))
    night = generated_night(nurses=small_nurses, visits=small_visits, seed=args.seed)
    solve(night, time_limit=60, first_only=True)  # imports and OR-Tools warmed up
    first = []
    for _ in range(5):
        began = time.process_time()
        solve(night, time_limit=60, first_only=True)
        first.append(time.process_time() - began)

    calls = quote_calls(live, visits, args.seed)
    best = [float("inf")] * len(calls)
    digest = hashlib.sha256()
    for round_ in range(7):
        for k, (asked, call) in enumerate(calls):
            began = time.process_time()
            options = quote(asked, plan, call)
            best[k] = min(best[k], time.process_time() - began)
            if round_ == 0:
                digest.update(repr(options).encode())
    print(
        f"first plan {args.first_plan_size}: CPU median {statistics.median(first):.3f} s; "
        f"quote {args.size}: CPU median {1000 * statistics.median(best):.2f} ms "
        f"(best of 7 per call, 30 calls), answers {digest.hexdigest()[:12]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
