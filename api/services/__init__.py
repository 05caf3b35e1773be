"""Work that spans repositories: planning, live re-planning, triage answers, jobs."""
