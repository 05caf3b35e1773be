"""Settings for the whole suite.

Hypothesis has no per-example deadline and no "too slow" check: both are wall-clock
assertions, and a busy CI machine failed `test_device_time` and `test_visit_states` on
them ("Unreliable test timings", 569 ms against 0.1 ms on the rerun). Tests with their own
``@settings`` inherit these values for anything they do not set.

A CI run (``CI`` set, as `.ci/run` is run) draws the same examples every time
(``derandomize``), so a landing is judged on the code, not on which random nights came up;
the examples that did find faults stay as explicit tests. Anywhere else each run draws new
examples, which is how they are found (``HYPOTHESIS_PROFILE=ci`` repeats CI's draw).

`porto_demo_roads`: the demo's Porto roads, imported and their routing index built once
for the whole run (every xdist worker takes the first one's), for the tests that route on
them rather than test the import.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

_COMMON: dict[str, object] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
    "print_blob": True,
}
settings.register_profile("ci", derandomize=True, database=None, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("dev", **_COMMON)  # type: ignore[arg-type]
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture(scope="session")
def porto_demo_roads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding network ``porto-demo`` (the bundled extract) with its routing
    index built, made once per run: importing (some 2.6 s) and ordering the two profiles'
    hierarchies (4.3 s) were paid by each module, and each xdist worker, that used the
    roads. Read it only: copy it into a folder of the test's own (`copy_roads`), where the
    service writes its matrix caches."""
    from geo.matrix import prepare_routing
    from geo.network import DEMO_EXTRACT, import_network

    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is a folder of this run's; alone, the run's own.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "porto-demo-roads"
    with (shared / "porto-demo-roads.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other workers wait for the first one's
        if not (folder / "ready").is_file():
            prepare_routing(import_network(DEMO_EXTRACT, name="porto-demo", data_dir_path=folder))
            (folder / "ready").touch()
    return folder


def copy_roads(roads: Path, data_dir: Path) -> Path:
    """``data_dir`` with `porto_demo_roads`' networks copied in (19 MB); returns it."""
    shutil.copytree(roads / "networks", data_dir / "networks", dirs_exist_ok=True)
    return data_dir
