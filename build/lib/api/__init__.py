"""The nachtroute service: FastAPI, database, auth, jobs and the one `nachtroute` CLI."""
