"""Settings for the whole suite.

Hypothesis: a CI run (``CI`` set, as `.ci/run` is run) draws the same examples every time
(``derandomize``), so a landing is judged on the code, not on which random nights came up;
the examples that did find faults stay as explicit tests. Anywhere else each run draws new
examples, which is how they are found (``HYPOTHESIS_PROFILE=ci`` repeats CI's draw).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
