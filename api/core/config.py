"""One `Settings` class: ``NACHTROUTE_*`` environment variables and an optional ``.env`` file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, Self

import platformdirs
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from optimizer.solve import LIVE_STALL_SECONDS

__all__ = ["PLACEHOLDER_SECRET", "Settings"]

#: The development default; refused anywhere else so no deployment signs tokens with it.
PLACEHOLDER_SECRET = "change-me-development-only-never-in-production"  # noqa: S105 - refused outside dev


class Settings(BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="NACHTROUTE_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("nachtroute")))
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file in data_dir"
    )
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    api_key_pepper: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    live_replan_seconds: float = Field(
        default=0.8, gt=0, le=10, description="solver budget of a live re-plan (answer < 1 s)"
    )
    live_replan_stall_seconds: float | None = Field(
        default=LIVE_STALL_SECONDS,
        gt=0,
        le=10,
        description=(
            "a live re-plan's search ends once its best plan has not improved for this long "
            "(live_replan_seconds stays the cap); null: search to the cap"
        ),
    )
    reoptimise_seconds: float = Field(default=10.0, gt=0, le=600)
    device_clock_tolerance_minutes: int = Field(
        default=15,
        ge=0,
        le=120,
        description="a phone's time further ahead of the server's clock is clamped, with a reason",
    )
    recurrence_days_ahead: int = Field(
        default=14, ge=1, le=366, description="how far ahead recurring care becomes visits"
    )
    access_log_retention_years: int = Field(default=5, ge=5, description="NEN 7513: >= 5 years")
    max_body_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        le=100_000_000,
        description="largest request body in bytes; a larger one is refused (413) unread",
    )
    region_radius_km: float = Field(
        default=60.0,
        gt=0,
        le=500,
        description="a client's location must lie this near the region's base (its area)",
    )
    migrate_on_start: bool = Field(default=True, description="alembic upgrade head on start")
    network: str | None = Field(
        default=None,
        description=(
            "road network for travel times, as imported by `nachtroute geo import`; "
            "unset: straight-line estimates, flagged as such"
        ),
    )

    clock: datetime | None = Field(
        default=None,
        description=(
            "simulated start time, ISO 8601 with offset (e.g. 2026-11-29T03:10:00+01:00): the "
            "service's clock runs from this moment on; refused in production"
        ),
    )
    clock_speed: float = Field(
        default=1.0, gt=0, le=3600, description="simulated seconds per real second"
    )
    clock_file: Path | None = Field(
        default=None,
        description=(
            "a stepped simulated clock: the service's now is the ISO 8601 time (with offset) "
            "in this file, moved forward by whoever writes it (the simulator, "
            "`api.core.clock.step_clock_file`); it stands still in between, so a re-plan "
            "costs no simulated time. Shared by processes and kept over a restart; refused "
            "in production and together with NACHTROUTE_CLOCK / NACHTROUTE_CLOCK_SPEED"
        ),
    )
    replan_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="how often the re-plan worker looks for nights whose re-plan is pending",
    )
    keysafe_keys: SecretStr | None = Field(
        default=None,
        description="key-safe keyring, KEY_ID:BASE64_KEY[,...] (nachtroute keys generate)",
    )
    keysafe_active_key: str | None = Field(
        default=None, description="the key id new secrets are sealed under (several keys)"
    )
    keysafe_max_distance_m: float | None = Field(
        default=None, gt=0, le=10_000, description="reveal codes only this near the address"
    )
    route_stream_seconds: float = Field(
        default=300, ge=0, le=3600, description="how long one change stream stays open"
    )
    stream_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=60,
        description=(
            "an event stream (a phone's changes, the board) sends a comment line after this "
            "much quiet and checks its caller's credential again at least this often, ending "
            "once it is no longer valid (a deactivated login, a revoked phone, an expired token)"
        ),
    )
    phone_streams_per_nurse: int = Field(
        default=3,
        ge=1,
        le=20,
        description=(
            "change streams one nurse's phones hold open at once (more: 429); a phone that "
            "lost its network may reconnect before the server saw the old stream go"
        ),
    )

    # -- proofs of possession (DPoP, RFC 9449; issue 14)
    dpop_max_skew_seconds: int = Field(
        default=60,
        ge=5,
        le=600,
        description=(
            "a phone's DPoP proof may be this many seconds older or newer than now (real "
            "seconds: on a simulated clock, times NACHTROUTE_CLOCK_SPEED)"
        ),
    )
    public_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+$",
        description=(
            "scheme://host[:port] the phones reach the service at (behind a TLS proxy); a "
            "proof's htu is compared with it, else with the URL the server received"
        ),
    )
    # --- reports and cost shares (issue 11; api/services/reports.py) ---
    cost_per_night_eur: float = Field(
        default=2400.0,
        ge=0,
        le=1_000_000,
        description="the night team's cost per night (nurses, cars, night bag), in euros",
    )
    cost_fixed_share: float = Field(
        default=0.3, ge=0, le=1, description="part of the cost split equally over home-care orgs"
    )
    cost_variable_basis: Literal["visits", "care_minutes"] = Field(
        default="care_minutes", description="the rest is shared by visits or care minutes done"
    )
    # --- the region's tolerance rule for planned care (issue 11; api/services/tolerance.py) ---
    planned_tolerance_minutes: dict[str, Annotated[int, Field(ge=0, le=240)]] = Field(
        default_factory=dict,
        description=(
            "per care task, minutes past the window an acute/urgent call may use, as JSON, "
            'e.g. {"medication": 15, "turn": 60}; unset: windows are hard'
        ),
    )
    planned_late_cost_per_minute: int = Field(
        default=1000,
        ge=0,
        le=10_000_000,
        description="objective cost of a planned minute past its window (travel: 60/min)",
    )
    planned_end_margin_minutes: int = Field(
        default=10,
        ge=0,
        le=120,
        description=(
            "planned care with a hard window end (no tolerance): starting within this many "
            "minutes of the end costs planned_end_margin_cost_per_minute a minute, so plans "
            "keep room for slower drives and care; 0: no margin (docs/simulation.md)"
        ),
    )
    # 1000 since session 25 (100 before): at 100 a visit was still planned 0-8 minutes before
    # its hard end whenever that saved a little driving, and the night's noise made it late
    # (seed 11, 30 nights: 8 such misses against 5; docs/benchmarks.md "Session 25").
    planned_end_margin_cost_per_minute: int = Field(
        default=1000,
        ge=0,
        le=10_000_000,
        description=(
            "objective cost of each planned minute inside that margin (travel: 60/min, a "
            "minute past a tolerance window's end: planned_late_cost_per_minute, a minute "
            "to an acute call: 1200)"
        ),
    )

    @model_validator(mode="after")
    def _clock_rules(self) -> Self:
        if self.clock is not None:
            if self.clock.tzinfo is None:
                raise ValueError("NACHTROUTE_CLOCK: give an offset, e.g. 2026-11-29T03:10:00+01:00")
            if self.environment == "production":
                raise ValueError("NACHTROUTE_CLOCK: a simulated clock is refused in production")
        if self.clock_speed != 1.0 and self.environment == "production":
            raise ValueError("NACHTROUTE_CLOCK_SPEED: a simulated clock is refused in production")
        if self.clock_file is not None:
            if self.environment == "production":
                raise ValueError(
                    "NACHTROUTE_CLOCK_FILE: a simulated clock is refused in production"
                )
            if self.clock is not None or self.clock_speed != 1.0:
                raise ValueError(
                    "NACHTROUTE_CLOCK_FILE: a stepped clock takes its time from the file; "
                    "leave NACHTROUTE_CLOCK and NACHTROUTE_CLOCK_SPEED unset"
                )
            try:
                moment = datetime.fromisoformat(self.clock_file.read_text(encoding="utf-8").strip())
            except (OSError, ValueError):
                raise ValueError(
                    "NACHTROUTE_CLOCK_FILE: the file must exist and hold an ISO 8601 time with "
                    "offset, e.g. 2026-11-29T03:10:00+01:00"
                ) from None
            if moment.tzinfo is None:
                raise ValueError("NACHTROUTE_CLOCK_FILE: give an offset, e.g. +01:00")
        return self

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> Self:
        if self.environment != "development":
            for name in ("secret_key", "api_key_pepper"):
                value = getattr(self, name).get_secret_value()
                if value == PLACEHOLDER_SECRET or len(value) < 32:
                    raise ValueError(
                        f"NACHTROUTE_{name.upper()}: set a random secret of 32+ characters "
                        f"outside development (environment is {self.environment!r})"
                    )
        return self

    @property
    def dpop_skew_on_service_clock(self) -> int:
        """The allowed proof skew in seconds of the service's clock: the setting counts real
        seconds of flight and drift, which on a simulated clock running N times faster (never
        in production) are N times as many seconds of its clock."""
        return round(self.dpop_max_skew_seconds * max(1.0, self.clock_speed))

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``data_dir/nachtroute.sqlite``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+pysqlite:///{self.data_dir / 'nachtroute.sqlite'}"
