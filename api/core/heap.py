"""The serving process's heap: no full garbage collection over what start-up made.

CPython's oldest-generation collection walks every tracked object of the process, and it
holds the interpreter while it does: in ``nachtroute serve`` that is the modules, classes
and schemas of FastAPI, SQLAlchemy, pydantic and OR-Tools, well over a million objects,
and on the shared 2-core machine one such collection took 240-410 ms (four in a 40 s load
run), during which no request was answered: every route read in flight waited for it,
which was the route reads' p99 (measured with `gc.callbacks` during ``bench.load_bench``).

`freeze_startup_heap` collects once and then moves everything alive into the permanent
generation (`gc.freeze`), so later collections walk only what was made after start-up
(requests' objects, caches). What start-up made lives as long as the process anyway.
Only for a serving process: a test process that makes many apps would keep each one's
objects for good.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> int:
    """Collect, then exempt every object alive now from later collections; returns how many
    objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
