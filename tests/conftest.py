"""Settings for the whole suite.

Hypothesis' default 200 ms deadline per example is a wall-clock assertion: on a busy CI
machine a property test of a pure function failed as "Unreliable test timings" when the
process was descheduled for a quarter of a second during one example (shown by pausing the
test process 0.27 s in every 0.28 s: test_device_time and test_visit_states failed, 569 ms
and 294 ms against 0.1 ms on replay). What these tests claim is a property, never a speed;
the too_slow health check (data generation time) is the same kind of clock. Tests that set
their own ``@settings`` inherit these for what they leave out.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("nachtroute", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("nachtroute")
