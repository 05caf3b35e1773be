"""Simulated nights played through the real HTTP service (issue 11).

`params` (every number, with its reasoning), `generate` (nights from a seed), `service`
(start/stop a served process on a free loopback port), `play` (a night through the API,
invariants checked all night), `policies` (the baselines on the same nights) and `metrics`.
"""
