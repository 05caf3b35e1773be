"""The tables, grouped by resource. Personal data lives in `Client` only, and every read or
change of it is written to `AccessLogEntry` (NEN 7513) by the repository layer.

Times are stored as UTC; times inside a night are also kept as seconds from the night's
start, the optimizer's unit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AccessLogEntry",
    "ApiKey",
    "Base",
    "Client",
    "IdempotencyRecord",
    "Job",
    "Night",
    "NightEvent",
    "Nurse",
    "Organisation",
    "PlanVersion",
    "Region",
    "RouteVersion",
    "Shift",
    "SignInThrottle",
    "User",
    "Visit",
    "VisitRequest",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend (SQLite has no zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with named constraints, so migrations can drop them on every backend."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


# ------------------------------------------------------------------ region and organisations


class Region(Base):
    """The region and its shared night team: where the base is and when a night runs."""

    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    base_lat: Mapped[float] = mapped_column(Float)
    base_lon: Mapped[float] = mapped_column(Float)
    night_start: Mapped[str] = mapped_column(String(5), default="23:00")
    night_end: Mapped[str] = mapped_column(String(5), default="07:00")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")


class Organisation(Base):
    """A partner: home care (thuiszorg) or triage (alarm centre, GP out-of-hours post)."""

    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # home_care | triage
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # From when it shares the team's fixed cost (red team R22-03, migration 0014): nights that
    # start at or after this moment. None: a partner from the start (seeded, or before 0014).
    member_since: Mapped[datetime | None] = mapped_column(default=None)


class ApiKey(Base):
    """A partner's system-to-system key: only a keyed hash of the secret is stored."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))  # partner | triage
    responsible_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class User(Base):
    """A person who signs in; partner, triage and privacy officers belong to an organisation."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(24))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    nurse_id: Mapped[int | None] = mapped_column(ForeignKey("nurses.id"))
    #: Sealed with the keyring (`api.totp_vault`), never stored in the clear.
    totp_secret: Mapped[str | None] = mapped_column(String(255), default=None)
    #: The last accepted TOTP time step (unix time // 30): a code is accepted once.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Set at deactivation: a token issued at or before it is refused, even after the login
    #: is reactivated (`api.repositories.accounts.token_caller`); ``None``: no such moment.
    tokens_valid_after: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# ------------------------------------------------------------------ clients (personal data)


class Client(Base):
    """A client of one organisation: as little as the night's work needs. No BSN, no diagnosis."""

    __tablename__ = "clients"
    __table_args__ = (UniqueConstraint("organisation_id", "external_ref"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    external_ref: Mapped[str | None] = mapped_column(String(64), default=None)
    display_name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    access_instructions: Mapped[str] = mapped_column(Text, default="")
    # The code itself never lives here: the key-safe issue keeps it encrypted elsewhere.
    key_safe_present: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# ------------------------------------------------------------------ nurses and shifts


class Nurse(Base):
    """A night nurse of the team."""

    __tablename__ = "nurses"
    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    skills: Mapped[list[Any]] = mapped_column(default=list)
    profile: Mapped[str] = mapped_column(String(16), default="car")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Shift(Base):
    """A nurse works the night of ``night_date`` (the evening's date) from ``start`` to ``end``."""

    __tablename__ = "shifts"
    __table_args__ = (UniqueConstraint("nurse_id", "night_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    nurse_id: Mapped[int] = mapped_column(ForeignKey("nurses.id"), index=True)
    night_date: Mapped[date] = mapped_column(Date, index=True)
    start: Mapped[str] = mapped_column(String(5))
    end: Mapped[str] = mapped_column(String(5))


# ------------------------------------------------------------------ requests and visits


class VisitRequest(Base):
    """What a partner asked for: planned care (window, maybe recurring) or unplanned care."""

    __tablename__ = "visit_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # planned | unplanned
    urgency: Mapped[str] = mapped_column(String(16))
    care_task: Mapped[str] = mapped_column(String(32))
    first_night: Mapped[date] = mapped_column(Date)
    window_start: Mapped[str | None] = mapped_column(String(5), default=None)
    window_end: Mapped[str | None] = mapped_column(String(5), default=None)
    call_time: Mapped[datetime | None] = mapped_column(default=None)
    service_minutes: Mapped[int] = mapped_column(Integer)
    required_skills: Mapped[list[Any]] = mapped_column(default=list)
    nurses_needed: Mapped[int] = mapped_column(Integer, default=1)
    recurrence: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | cancelled
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Issue 13: "check 60-90 min after" another request of the same partner (migration 0011).
    after_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("visit_requests.id"), default=None, index=True
    )
    after_min_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    after_max_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    after_nurse: Mapped[str | None] = mapped_column(String(16), default=None)


class IdempotencyRecord(Base):
    """The first answer to an ``Idempotency-Key``, replayed to retries with the same body."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("organisation_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    key: Mapped[str] = mapped_column(String(255))
    body_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Night(Base):
    """One night of the team; ``plan_version`` is the ETag every planner change must carry."""

    __tablename__ = "nights"
    __table_args__ = (UniqueConstraint("region_id", "night_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    night_date: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    plan_version: Mapped[int] = mapped_column(Integer, default=0)
    # Durable re-plans (api.services.live): requested > done is a re-plan still owed.
    replan_requested: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    replan_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    replan_reason: Mapped[str | None] = mapped_column(String(40), default=None)


class Visit(Base):
    """One visit of one night, made from a request; times in seconds from the night's start."""

    __tablename__ = "visits"
    __table_args__ = (UniqueConstraint("request_id", "night_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    night_id: Mapped[int] = mapped_column(ForeignKey("nights.id"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("visit_requests.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    urgency: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[int | None] = mapped_column(Integer, default=None)
    window_end: Mapped[int | None] = mapped_column(Integer, default=None)
    call_time: Mapped[int | None] = mapped_column(Integer, default=None)
    service_seconds: Mapped[int] = mapped_column(Integer)
    required_skills: Mapped[list[Any]] = mapped_column(default=list)
    nurses_needed: Mapped[int] = mapped_column(Integer, default=1)
    # open | started | done | could_not_get_in | cancelled
    status: Mapped[str] = mapped_column(String(20), default="open")
    # Cancelled: "handed_to_backup" (the team could not be there; the month report counts
    # it against the team) or None (no longer needed: skipped there).
    cancel_reason: Mapped[str | None] = mapped_column(String(20), default=None)
    pin_nurse_id: Mapped[int | None] = mapped_column(ForeignKey("nurses.id"), default=None)
    pin_position: Mapped[int | None] = mapped_column(Integer, default=None)
    done_by_nurse_id: Mapped[int | None] = mapped_column(ForeignKey("nurses.id"), default=None)
    started_at: Mapped[int | None] = mapped_column(Integer, default=None)
    # The planner moved it out of the plan: re-plans keep it out until she puts it back.
    held_by_planner: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class PlanVersion(Base):
    """Every plan of a night, kept for the record; the highest version is the current one."""

    __tablename__ = "plan_versions"
    __table_args__ = (UniqueConstraint("night_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    night_id: Mapped[int] = mapped_column(ForeignKey("nights.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))
    plan: Mapped[dict[str, Any]] = mapped_column()
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Why this plan is the last good one with the new calls inserted (the solver failed).
    fallback: Mapped[str | None] = mapped_column(String(200), default=None)
    live: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RouteVersion(Base):
    """A nurse's route as her phone should show it; a new row whenever her visits change."""

    __tablename__ = "route_versions"
    __table_args__ = (UniqueConstraint("night_id", "nurse_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    night_id: Mapped[int] = mapped_column(ForeignKey("nights.id"), index=True)
    nurse_id: Mapped[int] = mapped_column(ForeignKey("nurses.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    plan_version: Mapped[int] = mapped_column(Integer)
    steps: Mapped[list[Any]] = mapped_column()
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NightEvent(Base):
    """What happened: a nurse's report (done, delayed, could not get in) or a re-plan trigger."""

    __tablename__ = "night_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    night_id: Mapped[int] = mapped_column(ForeignKey("nights.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    nurse_id: Mapped[int | None] = mapped_column(ForeignKey("nurses.id"), default=None)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), default=None)
    delay_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    at: Mapped[datetime] = mapped_column()
    recorded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    #: When the server recorded it (its clock); ``at`` may be a phone's earlier time.
    received_at: Mapped[datetime | None] = mapped_column(default=None)


class Job(Base):
    """A background job (re-optimise), its progress and its outcome."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    night_id: Mapped[int | None] = mapped_column(ForeignKey("nights.id"), default=None)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[list[Any]] = mapped_column(default=list)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


# ------------------------------------------------------------------ access log (NEN 7513)


class AccessLogEntry(Base):
    """Who read or changed which client's data, when, in which role and organisation.

    Append-only: the database refuses UPDATE and DELETE by trigger on PostgreSQL (also
    TRUNCATE) and on SQLite (migrations 0001 and 0002), and the repository layer offers no way
    to change a row. Kept at least five years; nothing in the service deletes rows.
    """

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_org_at", "client_organisation_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    event: Mapped[str] = mapped_column(String(32))
    #: Empty only for a key-safe refusal that names no client (unknown visit, wrong role).
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    client_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), default=None)
    actor: Mapped[str] = mapped_column(String(120))
    responsible_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    role: Mapped[str] = mapped_column(String(24))
    acting_organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), default=None
    )
    purpose: Mapped[str] = mapped_column(String(80))
    #: Key-safe attempts: the phone, the visit as asked for, and the key id of a reveal.
    device_id: Mapped[str | None] = mapped_column(String(64), default=None)
    visit_id: Mapped[str | None] = mapped_column(String(64), default=None)
    key_id: Mapped[str | None] = mapped_column(String(32), default=None)


class SignInThrottle(Base):
    """Failed sign-ins in the current window, per account or per address (`api.repositories.
    accounts`). ``key`` is a keyed hash, so neither a username nor an address is stored."""

    __tablename__ = "sign_in_throttle"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column()
