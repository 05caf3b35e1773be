"""Settings for the whole suite.

Hypothesis has no per-example deadline and no "too slow" check: both are wall-clock
assertions, and a busy CI machine failed `test_device_time` and `test_visit_states` on
them ("Unreliable test timings", 569 ms against 0.1 ms on the rerun). Tests with their own
``@settings`` inherit these values for anything they do not set.

A CI run (``CI`` set, as `.ci/run` is run) draws the same examples every time
(``derandomize``), so a landing is judged on the code, not on which random nights came up;
the examples that did find faults stay as explicit tests. Anywhere else each run draws new
examples, which is how they are found (``HYPOTHESIS_PROFILE=ci`` repeats CI's draw).

Passwords are hashed with argon2id at its lowest cost (`cheap_password_hashing`): at the
service's cost (the library's defaults, 3 passes over 64 MiB) each hash and each verification
took 0.19 s, and the suite seeds dozens of users and tries hundreds of passwords (one file
spent 74 s in them). Same algorithm and code; a test whose bug lies in a verification's
duration (a race) is marked ``password_cost`` and runs at the service's cost.

`porto_demo_roads`: the demo's Porto roads, imported and their routing index built once
for the whole run (every xdist worker takes the first one's), for the tests that route on
them rather than test the import.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
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


#: argon2id at its lowest cost: one pass over 8 KiB, one lane.
CHEAP_PASSWORDS = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
#: The service's hasher (`api.core.security`): the library's defaults.
SERVICE_PASSWORDS = PasswordHasher()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Every password hashed and verified in this process at `CHEAP_PASSWORDS`' cost (a
    hash says its own cost: one made here verifies as cheaply in a served process)."""
    from api.core import security

    service = security._hasher, security._DUMMY_HASH
    security._hasher = CHEAP_PASSWORDS
    security._DUMMY_HASH = CHEAP_PASSWORDS.hash("not-a-real-password")
    yield
    security._hasher, security._DUMMY_HASH = service


@pytest.fixture(autouse=True)
def _password_cost(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test marked ``password_cost``: hashes and verifications at the service's cost (a
    user seeded before it keeps her cheap hash: the test hashes hers again)."""
    if request.node.get_closest_marker("password_cost") is None:
        return
    from api.core import security

    monkeypatch.setattr(security, "_hasher", SERVICE_PASSWORDS)
    monkeypatch.setattr(security, "_DUMMY_HASH", SERVICE_PASSWORDS.hash("not-a-real-password"))
