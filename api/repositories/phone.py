"""The phone's data: registered devices, key-safe records, stored events and the bag template.

The key-safe functions handle only `api.keysafe.EncryptedCode` records and `KeySafeCode`
objects (which print as ``****``); nothing here logs or formats a code. Setting a code is
written to the access log (NEN 7513) like any other change of a client's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from api import totp_vault
from api.core.problems import Unprocessable, api_error
from api.core.roles import Principal
from api.db.models import Client, Night, Nurse, Region, User, Visit
from api.db.phone_models import BagTemplateRow, KeySafeRecord, PhoneDevice, PhoneEvent
from api.keysafe import EncryptedCode, Keyring, KeySafeCode, encrypt
from api.night.device_time import DeviceClock, corrected_time
from api.offline_events import StoredEvent
from api.repositories import access_log
from mobile_contract.bag import BagItem, BagTemplate
from mobile_contract.devices import DeviceRegistrationRequest
from mobile_contract.events import Event

__all__ = [
    "DEFAULT_BAG",
    "Completion",
    "SqlEventStore",
    "SqlKeySafeStore",
    "bag_template",
    "device",
    "flag_code",
    "keysafe_record",
    "latest_completions_of_client",
    "latest_revocation",
    "open_keysafe_store",
    "register_device",
    "revoke_device",
    "set_code",
]

# ----------------------------------------------------------------- devices


def register_device(
    session: Session,
    principal: Principal,
    nurse: Nurse,
    body: DeviceRegistrationRequest,
    *,
    now: datetime,
) -> PhoneDevice:
    """Register the nurse's phone; her earlier phones are revoked (one phone per nurse)."""
    assert principal.user_id is not None
    for old in session.scalars(
        select(PhoneDevice).where(
            PhoneDevice.nurse_id == nurse.id, PhoneDevice.revoked_at.is_(None)
        )
    ):
        old.revoked_at = now
        old.revoked_by_user_id = principal.user_id
    device = PhoneDevice(
        id=str(uuid.uuid4()),
        nurse_id=nurse.id,
        user_id=principal.user_id,
        platform=body.platform.value,
        app_version=body.app_version,
        label=body.label,
        public_key=body.public_key,
        push_token=body.push_token,
        registered_at=now,
    )
    session.add(device)
    session.commit()
    return device


def device(session: Session, device_id: str | None) -> PhoneDevice | None:
    """A registered device by id (revoked or not)."""
    if not device_id or len(device_id) > 36:
        return None
    return session.get(PhoneDevice, device_id)


def active_device_of(session: Session, nurse_id: int) -> PhoneDevice | None:
    """The nurse's registered, non-revoked phone."""
    return session.scalars(
        select(PhoneDevice)
        .where(PhoneDevice.nurse_id == nurse_id, PhoneDevice.revoked_at.is_(None))
        .order_by(PhoneDevice.registered_at.desc())
        .limit(1)
    ).first()


def latest_revocation(session: Session, nurse_id: int) -> datetime | None:
    """When one of the nurse's phones was last revoked (``None``: never)."""
    return session.scalars(
        select(func.max(PhoneDevice.revoked_at)).where(PhoneDevice.nurse_id == nurse_id)
    ).first()


def revoke_device(
    session: Session, found: PhoneDevice, *, user_id: int | None, now: datetime
) -> None:
    """Revoke a lost phone: from now on its requests and reveals are refused."""
    if found.revoked_at is None:
        found.revoked_at = now
        found.revoked_by_user_id = user_id
    session.commit()


# ----------------------------------------------------------------- key-safe codes


def keysafe_record(session: Session, client_id: int) -> KeySafeRecord | None:
    """The client's stored (encrypted) code record."""
    return session.get(KeySafeRecord, client_id)


def set_code(
    session: Session,
    principal: Principal,
    client: Client,
    code: KeySafeCode,
    keyring: Keyring,
    *,
    now: datetime,
) -> KeySafeRecord:
    """Store (or replace) the client's code, encrypted; clears a could-not-get-in flag.

    422 (``no_key_safe``) for a client marked as having no key safe: the partner marks the
    key safe first (``key_safe_present``), so the flag and the code never disagree.
    """
    if not client.key_safe_present:
        raise api_error(
            Unprocessable,
            "no_key_safe",
            "this client is marked as having no key safe: set key_safe_present first",
        )
    sealed = encrypt(code, str(client.id), keyring)
    record = session.get(KeySafeRecord, client.id)
    if record is None:
        record = KeySafeRecord(client_id=client.id)
        session.add(record)
    record.ciphertext = sealed.ciphertext
    record.nonce = sealed.nonce
    record.key_id = sealed.key_id
    record.set_by = principal.actor[:120]
    record.set_at = now
    record.flagged_could_not_get_in = False
    record.flagged_at = None
    client.updated_at = now
    access_log.record(
        session, principal, [client], event="update", purpose="set key-safe code", at=now
    )
    session.commit()
    return record


def flag_code(session: Session, client_id: int, *, now: datetime) -> bool:
    """Flag the client's code as not working (a nurse could not get in); False if none."""
    record = session.get(KeySafeRecord, client_id)
    if record is None:
        return False
    if not record.flagged_could_not_get_in:
        record.flagged_could_not_get_in = True
        record.flagged_at = now
    return True


def _sealed(record: KeySafeRecord) -> EncryptedCode:
    return EncryptedCode(
        client_id=str(record.client_id),
        key_id=record.key_id,
        nonce=bytes(record.nonce),
        ciphertext=bytes(record.ciphertext),
    )


def open_keysafe_store() -> SqlKeySafeStore:
    """The key-safe store of the configured database (``nachtroute keys rotate``)."""
    from api.core.config import Settings
    from api.db.engine import make_engine, make_session_factory

    engine = make_engine(Settings().resolved_database_url)
    return SqlKeySafeStore(make_session_factory(engine)())


class SqlKeySafeStore:
    """`api.keysafe.KeySafeStore` and `CodeStore` over the ``keysafe_codes`` table."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def all_records(self) -> Sequence[EncryptedCode]:
        """Every stored record."""
        rows = self._session.scalars(select(KeySafeRecord).order_by(KeySafeRecord.client_id))
        return [_sealed(row) for row in rows]

    def replace_all(self, records: Sequence[EncryptedCode]) -> None:
        """Replace each record (matched by client id) in one transaction."""
        for sealed in records:
            row = self._session.get(KeySafeRecord, int(sealed.client_id))
            if row is None:
                continue
            row.ciphertext, row.nonce, row.key_id = sealed.ciphertext, sealed.nonce, sealed.key_id
        self._session.commit()

    def reseal_totp_secrets(self, target: Keyring) -> tuple[int, int]:
        """Stage every user's TOTP secret re-sealed under ``target``'s active key (committed
        by `replace_all`, so with the codes or not at all); (resealed, left: did not open)."""
        done = left = 0
        for user in self._session.scalars(select(User).where(User.totp_secret.is_not(None))):
            plain = totp_vault.unseal(user.totp_secret, user_id=user.id, keyring=target)
            if plain is None:
                left += 1
                continue
            user.totp_secret = totp_vault.seal(plain, user_id=user.id, keyring=target)
            done += 1
        return done, left

    def record_for(self, client_id: str) -> EncryptedCode | None:
        """The client's record, or None when no code is on file."""
        row = self._session.get(KeySafeRecord, int(client_id))
        return _sealed(row) if row is not None else None


# ----------------------------------------------------------------- phone events

_EVENT: TypeAdapter[Event] = TypeAdapter(Event)


def _stored(row: PhoneEvent) -> StoredEvent:
    return StoredEvent(
        nurse_id=str(row.nurse_id),
        device_id=row.device_id,
        shift_id=str(row.night_id),
        received_at=row.received_at,
        # Stored events are read as they were accepted, not under rules added since.
        event=_EVENT.validate_python(row.payload, context={"stored": True}),
        fingerprint=row.fingerprint,
        clock_offset=row.clock_offset_seconds,
        sent_at=row.batch_sent_at,
    )


def state_marker_columns(night_id: Any, nurse_id: Any) -> tuple[Any, Any]:
    """`SqlEventStore.state_marker` as two scalar subqueries, to ride along in another query;
    ``night_id`` and ``nurse_id`` are values or bound parameters (a statement built once)."""
    mine = (
        PhoneEvent.night_id == night_id,
        PhoneEvent.nurse_id == nurse_id,
        PhoneEvent.type != "position",
    )
    return (
        select(func.count(PhoneEvent.event_id)).where(*mine).scalar_subquery(),
        select(func.max(PhoneEvent.event_id)).where(*mine).scalar_subquery(),
    )


class SqlEventStore:
    """`api.offline_events.EventStore` over ``phone_events`` (the event UUID is the key)."""

    def __init__(self, session: Session, night_id: int) -> None:
        self._session = session
        self._night_id = night_id

    def _values(self, stored: StoredEvent) -> dict[str, Any]:
        return {
            "event_id": str(stored.event.event_id),
            "night_id": self._night_id,
            "nurse_id": int(stored.nurse_id),
            "device_id": stored.device_id,
            "device_time": stored.event.device_time,
            "received_at": stored.received_at,
            "clock_offset_seconds": stored.clock_offset,
            "batch_sent_at": stored.sent_at,
            "type": stored.event.type,
            "fingerprint": stored.fingerprint,
            "payload": stored.event.model_dump(mode="json"),
        }

    def _insert(self) -> Any:
        dialect = self._session.get_bind().dialect.name
        return sqlite_insert if dialect == "sqlite" else postgresql_insert

    def insert_if_absent(self, stored: StoredEvent) -> StoredEvent | None:
        """Store unless the event id is taken (atomic: the primary key decides)."""
        return self.insert_all_if_absent([stored])[0]

    def last_clock(self, nurse_id: str, device_id: str) -> DeviceClock | None:
        """The device's previous batch of the night with a clock offset: that offset, its
        newest device time and its ``sent_at`` (`api.night.device_time.batch_clock_offset`);
        one row read by the night-and-nurse index."""
        row = self._session.execute(
            select(
                PhoneEvent.clock_offset_seconds, PhoneEvent.device_time, PhoneEvent.batch_sent_at
            )
            .where(
                PhoneEvent.night_id == self._night_id,
                PhoneEvent.nurse_id == int(nurse_id),
                PhoneEvent.device_id == device_id,
                PhoneEvent.clock_offset_seconds.is_not(None),
            )
            .order_by(PhoneEvent.received_at.desc(), PhoneEvent.device_time.desc())
            .limit(1)
        ).first()
        if row is None or row[0] is None:
            return None
        return DeviceClock(offset=row[0], clock_at=row[1], sent_at=row[2])

    def insert_all_if_absent(self, batch: Sequence[StoredEvent]) -> list[StoredEvent | None]:
        """Store a batch's events in one ``INSERT ... ON CONFLICT DO NOTHING RETURNING``; per
        event ``None`` when stored now, else the event stored with its id: by an earlier
        upload (read in one more query, only when there are such) or earlier in this batch.

        The primary key decides between two uploads of the same events at once, without a
        savepoint; a batch of new positions (the phones' usual upload) is one statement.
        """
        first: dict[str, StoredEvent] = {}
        for stored in batch:
            first.setdefault(str(stored.event.event_id), stored)
        if not first:
            return []
        statement = (
            self._insert()(PhoneEvent)
            .values([self._values(stored) for stored in first.values()])
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(PhoneEvent.event_id)
        )
        stored_now = set(self._session.scalars(statement))
        taken = set(first) - stored_now
        earlier = (
            {
                row.event_id: _stored(row)
                for row in self._session.scalars(
                    select(PhoneEvent).where(PhoneEvent.event_id.in_(taken))
                )
            }
            if taken
            else {}
        )
        results: list[StoredEvent | None] = []
        for stored in batch:
            key = str(stored.event.event_id)
            if key in stored_now:
                # The first with this id is stored now; a repeat in the batch meets it.
                results.append(None if first[key] is stored else first[key])
            else:
                results.append(earlier.get(key))
        return results

    def for_night(self) -> dict[str, list[StoredEvent]]:
        """Per nurse (database id, as text), her events of the night that decide her shift's
        state, positions left out (they only move her last known position): what a
        re-plan needs of every nurse, in one query instead of two per nurse."""
        found: dict[str, list[StoredEvent]] = {}
        for row in self._session.scalars(
            select(PhoneEvent).where(
                PhoneEvent.night_id == self._night_id, PhoneEvent.type != "position"
            )
        ):
            found.setdefault(str(row.nurse_id), []).append(_stored(row))
        return found

    def state_marker_columns(self, nurse_id: str) -> tuple[Any, Any]:
        """`state_marker` as two scalar subqueries, to ride along in another query."""
        return state_marker_columns(self._night_id, int(nurse_id))

    def state_marker(self, nurse_id: str) -> tuple[int, str | None]:
        """How many events other than positions the nurse has stored tonight, and the
        greatest event id among them: events are only ever added, so it changes whenever
        the shift's state can (positions aside, which only move her last known position)."""
        count, greatest = self._session.execute(
            select(func.count(PhoneEvent.event_id), func.max(PhoneEvent.event_id)).where(
                PhoneEvent.night_id == self._night_id,
                PhoneEvent.nurse_id == int(nurse_id),
                PhoneEvent.type != "position",
            )
        ).one()
        return int(count), greatest

    def for_shift(self, nurse_id: str, shift_id: str) -> Sequence[StoredEvent]:
        """The nurse's events of the night (``shift_id`` is the night's id here) that decide
        her shift's state: every event but positions, and of those only the newest (by
        `api.offline_events.position_time`, then event id, as `derive_state` picks it).

        Positions come every few seconds all night; the state keeps only the last one, so a
        route read or an event batch does work bounded by the night's visits, not its hours.
        """
        mine = (PhoneEvent.night_id == int(shift_id), PhoneEvent.nurse_id == int(nurse_id))
        rows = list(
            self._session.scalars(select(PhoneEvent).where(*mine, PhoneEvent.type != "position"))
        )
        at = _position_order(self._session.get_bind().dialect.name)
        newest = self._session.scalars(
            select(PhoneEvent)
            .where(*mine, PhoneEvent.type == "position")
            .order_by(at.desc(), PhoneEvent.event_id.desc())
            .limit(1)
        ).first()
        if newest is not None:
            rows.append(newest)
        return [_stored(row) for row in rows]


def _position_order(dialect: str) -> Any:
    """The order of `offline_events.position_time` in SQL: the phone's time with its clock
    offset added (`StoredEvent.at`), and a time after the moment the server received it
    counts as that moment. SQLite has no date arithmetic on stored times: Julian days."""
    offset = func.coalesce(PhoneEvent.clock_offset_seconds, 0)
    device: Any
    received: Any
    if dialect == "sqlite":
        device = func.julianday(PhoneEvent.device_time) + offset / 86400.0
        received = func.julianday(PhoneEvent.received_at)
    else:
        device = PhoneEvent.device_time + func.make_interval(0, 0, 0, 0, 0, 0, offset)
        received = PhoneEvent.received_at
    return case((device > received, received), else_=device)


# ----------------------------------------------------------------- night bag

#: The team's bag until a planner stores another (fictional quantities).
DEFAULT_BAG: tuple[BagItem, ...] = (
    BagItem(item_id="gloves", label="Handschoenen (paar) / gloves (pair)", minimum=20, full=40),
    BagItem(
        item_id="insulin_needles", label="Insulinenaalden / insulin needles", minimum=6, full=12
    ),
    BagItem(item_id="catheter_set", label="Katheterset / catheter set", minimum=2, full=4),
    BagItem(item_id="wound_dressing", label="Wondverband / wound dressing", minimum=4, full=10),
    BagItem(item_id="saline", label="Fysiologisch zout / saline", minimum=2, full=6),
    BagItem(item_id="incontinence_pad", label="Incontinentiemateriaal / pads", minimum=4, full=10),
)

#: What a visit of each care task takes from the bag (the request's ``care_task``).
CARE_TASK_MATERIALS: dict[str, dict[str, int]] = {
    "medication": {"gloves": 1},
    "injection": {"gloves": 1, "insulin_needles": 1},
    "catheter": {"gloves": 2, "catheter_set": 1},
    "wound": {"gloves": 2, "wound_dressing": 1, "saline": 1},
    "turn": {"gloves": 1, "incontinence_pad": 1},
    "palliative": {"gloves": 2},
}


def bag_template(session: Session, region: Region) -> BagTemplate:
    """The team's night bag template (the default until one is stored)."""
    row = session.get(BagTemplateRow, region.id)
    if row is None:
        return BagTemplate(team_id=f"region-{region.id}", version=1, items=list(DEFAULT_BAG))
    return BagTemplate(
        team_id=f"region-{region.id}",
        version=row.version,
        items=[BagItem.model_validate(item) for item in row.items],
    )


@dataclass(frozen=True)
class Completion:
    """One visit's latest completion as the nurse recorded it; `completed_at` UTC, on the
    server's clock (the phone's clock offset added)."""

    visit_id: int
    completed_at: datetime
    tasks_done: list[str]
    note: str


def latest_completions_of_client(session: Session, client_id: int) -> list[Completion]:
    """The latest completion of each of a client's visits, newest first.

    A later completion of a visit replaces an earlier one (by server time, then event id).
    """
    visits = {
        v.id: v.night_id for v in session.scalars(select(Visit).where(Visit.client_id == client_id))
    }
    latest: dict[int, tuple[datetime, str, Completion]] = {}
    if not visits:
        return []
    # (a list of pairs: a Result has keys(), so dict() would read it as a mapping)
    night_starts: dict[int, datetime] = dict(
        session.execute(select(Night.id, Night.starts_at).where(Night.id.in_(set(visits.values()))))
        .tuples()
        .all()
    )
    rows = session.scalars(
        select(PhoneEvent).where(
            PhoneEvent.type == "visit_completed",
            PhoneEvent.night_id.in_(set(visits.values())),
        )
    )
    for row in rows:
        visit_id = str(row.payload.get("visit_id", ""))
        if not (visit_id.isascii() and visit_id.isdigit()) or int(visit_id) not in visits:
            continue
        # Never after the server received it, nor before its night: a phone without
        # ``sent_at`` (or with an offset not believed) keeps its own time, a year ahead
        # perhaps, which then sat above every later note and was never replaced.
        done_at = corrected_time(row.device_time, row.clock_offset_seconds, row.received_at)
        starts = night_starts.get(row.night_id)
        done_at = min(done_at, row.received_at)
        if starts is not None:
            done_at = max(done_at, min(starts, row.received_at))
        completion = Completion(
            visit_id=int(visit_id),
            completed_at=done_at,
            tasks_done=[str(t) for t in row.payload.get("tasks_done", [])],
            note=str(row.payload.get("handover_note", "")),
        )
        key = (done_at, row.event_id)
        known = latest.get(completion.visit_id)
        if known is None or key > known[:2]:
            latest[completion.visit_id] = (*key, completion)
    return sorted((c for _, _, c in latest.values()), key=lambda c: c.completed_at, reverse=True)
