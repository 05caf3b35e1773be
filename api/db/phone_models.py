"""The phone's tables: registered devices, key-safe codes (encrypted), phone events, bag template.

Kept apart from `api.db.models` so the phone contract grows without touching the service's
tables; `api.migrations.env` imports this module so Alembic sees them. The key-safe code
is only ever stored as AES-GCM ciphertext (`api.keysafe`); the key stays in the environment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.models import Base, utcnow

__all__ = ["BagTemplateRow", "KeySafeRecord", "PhoneDevice", "PhoneEvent", "UsedProof"]


class PhoneDevice(Base):
    """A nurse's registered phone; her requests name it, and revoking it ends them at once."""

    __tablename__ = "phone_devices"
    __table_args__ = (Index("ix_phone_devices_nurse_active", "nurse_id", "revoked_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    nurse_id: Mapped[int] = mapped_column(ForeignKey("nurses.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    platform: Mapped[str] = mapped_column(String(16))
    app_version: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(60))
    public_key: Mapped[str] = mapped_column(Text)
    push_token: Mapped[str | None] = mapped_column(Text, default=None)
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)


class KeySafeRecord(Base):
    """A client's key-safe code at rest: ciphertext, nonce and key id; never the code itself.

    ``flagged_could_not_get_in`` is set when a nurse reports the code did not work; the
    client's organisation sees the flag (not the code) and clears it by setting a new code.
    """

    __tablename__ = "keysafe_codes"
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(32))
    set_by: Mapped[str] = mapped_column(String(120))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
    flagged_could_not_get_in: Mapped[bool] = mapped_column(Boolean, default=False)
    flagged_at: Mapped[datetime | None] = mapped_column(default=None)


class PhoneEvent(Base):
    """One event from a phone, stored once under the UUID the phone made (offline first).

    ``clock_offset_seconds``: how far the phone's clock was behind the server's when it
    sent the event's batch (negative: ahead; null: not known, an old client or an offset
    not believed); added to ``device_time`` wherever the time is used
    (`api.night.device_time`). ``device_time`` itself stays as sent (a resend must match).
    ``batch_sent_at``: its batch's ``sent_at`` (the phone's clock), against which the next
    batch's is judged (R22B-01)."""

    __tablename__ = "phone_events"
    __table_args__ = (Index("ix_phone_events_night_nurse", "night_id", "nurse_id"),)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    night_id: Mapped[int] = mapped_column(ForeignKey("nights.id"))
    nurse_id: Mapped[int] = mapped_column(ForeignKey("nurses.id"))
    device_id: Mapped[str] = mapped_column(String(36))
    device_time: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    clock_offset_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    batch_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    type: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column()


class BagTemplateRow(Base):
    """The team's night bag (nachttas) template; a default is used until one is stored."""

    __tablename__ = "bag_templates"
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    items: Mapped[list[Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsedProof(Base):
    """A DPoP proof's one-time id, per phone key, until the proof would be stale anyway
    (`api.repositories.proofs`): in the database, so a replay is refused by every server
    process and after a restart."""

    __tablename__ = "dpop_used_proofs"
    __table_args__ = (Index("ix_dpop_used_proofs_expires_at", "expires_at"),)
    jkt: Mapped[str] = mapped_column(String(43), primary_key=True)
    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column()
