"""What forking the solver's portfolio costs: the wall clock of `search.run_portfolio` with
workers that return at once, against calling them in this process, with a 50 x 1000 night
loaded (so the forked memory is the size a large night makes it).

    python bench/portfolio_overhead.py [--repeats 20]

The figure sets `optimizer.solve.PORTFOLIO_MIN_SECONDS`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer import search  # noqa: E402
from optimizer.generate import generated_night  # noqa: E402


def _answer(value: int) -> int:
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    night = generated_night(nurses=50, visits=1000, seed=0)  # noqa: F841  (held in memory)
    forked, inline = [], []
    for _ in range(args.repeats):
        began = time.perf_counter()
        search.run_portfolio(_answer, [(1,), (2,)], key=lambda v: v, processes=2, timeout=30)
        forked.append(time.perf_counter() - began)
        began = time.perf_counter()
        min(_answer(1), _answer(2))
        inline.append(time.perf_counter() - began)
    print(f"load {os.getloadavg()}")
    print(
        f"fork + collect, 2 workers: median {1000 * statistics.median(forked):.1f} ms, "
        f"max {1000 * max(forked):.1f} ms; in process {1000 * statistics.median(inline):.3f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
