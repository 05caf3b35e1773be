"""Settings for the whole suite.

Hypothesis has no per-example deadline and no "too slow" check: both are wall-clock
assertions, and a busy CI machine failed `test_device_time` and `test_visit_states` on
them ("Unreliable test timings", 569 ms against 0.1 ms on the rerun). Tests with their own
``@settings`` inherit these values for anything they do not set.

A CI run (``CI`` set, as `.ci/run` is run) draws the same examples every time
(``derandomize``), so a landing is judged on the code, not on which random nights came up;
the examples that did find faults stay as explicit tests. Anywhere else each run draws new
examples, which is how they are found (``HYPOTHESIS_PROFILE=ci`` repeats CI's draw).
"""

from __future__ import annotations

import os

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
