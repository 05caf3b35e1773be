"""The serving process leaves start-up's objects out of later garbage collections
(`api.core.heap`): a full collection over them held every request for 240-410 ms."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from api.core.heap import freeze_startup_heap

ROOT = Path(__file__).resolve().parents[2]


def test_objects_alive_at_start_up_are_not_walked_by_later_collections() -> None:
    """Checked in a fresh interpreter, as a serving process is: in a test worker each
    collection and each walk of the heap went over every earlier test's objects (16 s in
    the suite, 0.4 s alone)."""
    run = subprocess.run(
        [sys.executable, "-c", f"import {__name__} as t; t.frozen_objects_are_not_walked()"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr


def frozen_objects_are_not_walked() -> None:
    """The check itself (run by the test above in its own interpreter)."""
    made_at_start_up = [object()]  # a container: tracked by the collector
    gc.collect()
    assert any(o is made_at_start_up for o in gc.get_objects(generation=2))
    try:
        assert freeze_startup_heap() > 0
        gc.collect()
        assert not any(o is made_at_start_up for o in gc.get_objects())
        made_later = [object()]
        gc.collect()
        assert any(o is made_later for o in gc.get_objects(generation=2))
    finally:
        gc.unfreeze()  # this test process is not a server: give its objects back
    assert any(o is made_at_start_up for o in gc.get_objects(generation=2))


def test_serve_freezes_the_heap_before_serving() -> None:
    """`nachtroute serve` and `nachtroute demo` freeze once the app is made."""
    import inspect

    from api.cli import service_commands

    for handler in (service_commands._serve, service_commands._demo):
        source = inspect.getsource(handler)
        assert source.index("freeze_startup_heap()") < source.index("uvicorn.run(")
