"""The phone API's pydantic models (served under /mobile/v1)."""
