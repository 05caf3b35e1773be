"""The phone API's data: `DbMobileBackend`, a `api.routes.mobile.MobileBackend` over the
service's tables (tonight's published route, stored phone events, the encrypted key-safe
codes and the NEN 7513 access log).

`api.routes.mobile.build_router` owns the HTTP rules of ``/mobile/v1``; `api.deps` builds
this backend per request and checks the caller.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, MutableMapping, Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.core import dpop
from api.core.config import Settings
from api.core.problems import Unauthorised, Unprocessable, api_error
from api.core.roles import Principal
from api.db.models import Client, Night, Nurse, Region, Visit
from api.keysafe import AccessLogEntry, Keyring, handle_reveal
from api.night.device_time import batch_offsets, corrected_time
from api.night.reach import was_silent
from api.nightbag import bag_status, remaining, restock_list
from api.repositories import access_log, accounts, nights
from api.repositories import phone as repo
from api.routes.mobile import Caller
from api.services import live
from api.services import phone as service
from api.services.live import ReplanWorker
from mobile_contract.bag import BagStatus, BagTemplate, RestockList
from mobile_contract.devices import DeviceRegistration, DeviceRegistrationRequest, DeviceStatus
from mobile_contract.events import (
    BatchResult,
    CouldNotGetInEvent,
    Event,
    EventOutcome,
    EventResult,
    NeedsBackupEvent,
    ParsedBatch,
    RejectReason,
    VisitCompletedEvent,
)
from mobile_contract.http import route_etag
from mobile_contract.keysafe import KeySafeRefusal, KeySafeRevealRequest, KeySafeRevealResponse
from mobile_contract.route import MyRoute, RouteChangedNotice

__all__ = ["DbMobileBackend"]

#: How long after the night's end her phone still gets the route (its clients' names,
#: addresses, access instructions), to finish her reports; then none: data minimisation
#: (before R22-05 it was served until noon, five hours after a 07:00 end).
ROUTE_AFTER_NIGHT = timedelta(hours=1)

#: From when before tonight's start a batch is tonight's whole (her shift may begin early);
#: before that, a batch is sorted by the night each event belongs to (yesterday's, sent late).
_TONIGHT_FROM = timedelta(hours=3)


class _AccessLog:
    """`api.keysafe.AccessLog` over the service's access log: a row per reveal or refusal.

    Every attempt gets a row, also one for a visit that is not tonight's (no client named);
    the row names the phone, the visit as asked for and the key id, and is committed before
    the code leaves the server.
    """

    def __init__(self, session: Session, principal: Principal, client: Client | None) -> None:
        self._session, self._principal, self._client = session, principal, client

    def write(self, entry: AccessLogEntry) -> None:
        access_log.record_keysafe_attempt(
            self._session,
            self._principal,
            self._client,
            at=entry.at,
            outcome=entry.outcome,
            reason=entry.reason,
            device_id=entry.device_id,
            visit_id=entry.visit_id,
            key_id=entry.key_id,
            reveal_id=entry.reveal_id,
        )
        self._session.commit()


def _note_of(event: Event) -> tuple[str, str]:
    """The access-log purpose and the text of the note an event carries about a client."""
    if isinstance(event, VisitCompletedEvent):
        return "hand-over note", event.handover_note
    if isinstance(event, CouldNotGetInEvent | NeedsBackupEvent):
        return "nurse's note", event.note
    return "", ""


class DbMobileBackend:
    """`api.routes.mobile.MobileBackend` over the service's database, for one request.

    ``route_log_marks``: per nurse code and phone, the route content (ETag) last
    access-logged, kept
    by the caller across requests; ``keyring``: resolves the key-safe keyring when a code is
    revealed (503 when keys are not configured); ``replanner``: the app's re-plan worker,
    told after the events and their re-plan request are committed.
    """

    def __init__(
        self,
        session: Session,
        settings: Settings,
        principal: Principal,
        *,
        clock: Callable[[], datetime],
        session_factory: sessionmaker[Session],
        route_log_marks: MutableMapping[str, str],
        keyring: Callable[[], Keyring],
        max_distance_m: float | None,
        replanner: ReplanWorker,
    ) -> None:
        self._session = session
        self._settings = settings
        self._principal = principal
        self._clock = clock
        self._session_factory = session_factory
        self._route_log_marks = route_log_marks
        self._keyring = keyring
        self._max_distance_m = max_distance_m
        self._replanner = replanner

    # -- helpers

    def _nurse(self, code: str) -> Nurse:
        # The caller dependency loaded her by id in this session a moment ago: no query.
        if self._principal.nurse_id is not None:
            mine = self._session.get(Nurse, self._principal.nurse_id)
            if mine is not None and mine.code == code:
                return mine
        nurse = self._session.scalars(select(Nurse).where(Nurse.code == code)).first()
        assert nurse is not None  # the caller dependency found her a moment ago
        return nurse

    def _night(self, caller: Caller, now: datetime) -> service.NurseNight | None:
        region = accounts.get_region(self._session)
        return service.nurse_night(self._session, region, self._nurse(caller.nurse_id), now)

    def _now(self) -> datetime:
        return self._clock()

    # -- MobileBackend

    def register_device(
        self, nurse_id: str, request: DeviceRegistrationRequest, now: datetime
    ) -> DeviceRegistration:
        """Register the phone; the nurse's earlier phones are revoked.

        The public key must be a P-256 JWK (422 naming ``public_key``) and the key this
        request's token is bound to and its proof signed with (401 ``proof_key_mismatch``):
        she registers the key she holds, not a key she copied.
        """
        try:
            jkt = dpop.jwk_thumbprint(dpop.public_jwk(request.public_key))
        except dpop.ProofError as error:
            raise api_error(Unprocessable, "invalid", f"public_key: {error.message}") from None
        if self._principal.key_thumbprint is None or not hmac.compare_digest(
            jkt, self._principal.key_thumbprint
        ):
            access_log.record_refusal(
                self._session,
                self._principal,
                at=now,
                event="dpop.refused",
                reason="proof_key_mismatch",
                device_id=None,
                what="POST register_device",
            )
            self._session.commit()
            raise api_error(
                Unauthorised,
                "proof_key_mismatch",
                "public_key is not the key this request's token is bound to",
            )
        nurse = self._nurse(nurse_id)
        device = repo.register_device(self._session, self._principal, nurse, request, now=now)
        return DeviceRegistration(
            device_id=device.id,
            nurse_id=nurse.code,
            registered_at=device.registered_at,
            status=DeviceStatus.ACTIVE,
        )

    def my_route(self, caller: Caller) -> MyRoute | None:
        """Her published route tonight; the clients it shows are access-logged once per
        route content (a 304 poll of the same route adds no rows)."""
        now = self._now()
        nn = self._night(caller, now)
        if nn is None or nn.route is None:
            return None
        if now > nn.night.ends_at + ROUTE_AFTER_NIGHT:
            return None  # the night is over: no client's data to a phone (R22-05)
        template = repo.bag_template(self._session, nn.region)
        route, etag, client_ids = service.cached_route(
            self._session, nn, template, now=now, etag_of=route_etag
        )
        # Per phone: a replacement phone (or whoever holds it) reading the same content
        # is a new access, logged naming that phone (R22-04).
        mark = f"{caller.nurse_id}\x00{caller.device_id}"
        if self._route_log_marks.get(mark) != etag:
            # Her phone back after a silence: the care taken off her waits for a re-plan.
            back = was_silent(self._session, nn.night, nn.nurse.id, now)
            if back and live.needs_live_replan(nn.night, now):
                live.request_replan(self._session, nn.night, reason="phone: heard again")
            else:
                back = False
            shown = {
                c.id: c
                for c in (
                    self._session.scalars(select(Client).where(Client.id.in_(client_ids)))
                    if client_ids
                    else []
                )
            }
            unique = [shown[i] for i in client_ids if i in shown]  # in the route's order
            access_log.record(
                self._session,
                self._principal,
                unique,
                event="read",
                purpose="nurse route",
                at=now,
                none_shown=True,
                device_id=caller.device_id,
            )
            self._session.commit()
            self._route_log_marks[mark] = etag
            if back:
                self._replanner.notify(nn.night.id)
        return route

    def notices_after(self, caller: Caller, last_event_id: int) -> Sequence[RouteChangedNotice]:
        """Route-changed notices after ``last_event_id`` (a fresh session per poll)."""
        with self._session_factory() as session:
            region = accounts.get_region(session)
            nurse = session.scalars(select(Nurse).where(Nurse.code == caller.nurse_id)).first()
            if nurse is None:
                return []
            nn = service.nurse_night(session, region, nurse, self._now())
            if nn is None:
                return []
            notices = service.route_notices(session, nn.night, nurse)
        return [n for n in notices if n.event_id > last_event_id]

    def upload_events(self, caller: Caller, batch: ParsedBatch, now: datetime) -> BatchResult:
        """Store the batch once per event; visits move forward; the night is re-planned.

        Events go to tonight's shift while it is under way or near. Otherwise (a phone that
        was offline since the morning, sending the next afternoon) each event goes to the
        night it belongs to: a visit's own night, else the night its time falls in when she
        had a shift in it; an event of no night of hers is rejected, a batch with none 422.
        """
        region = accounts.get_region(self._session)
        nurse = self._nurse(caller.nurse_id)
        tonight = service.nurse_night(self._session, region, nurse, now)
        if tonight is not None and now >= tonight.night.starts_at - _TONIGHT_FROM:
            groups: list[tuple[service.NurseNight | None, list[tuple[int, Event]]]] = [
                (tonight, list(batch.events))
            ]
        else:
            groups = self._by_night(region, nurse, batch, now, tonight)
        if all(nn is None for nn, _ in groups):
            raise api_error(Unprocessable, "not_on_shift", "you are not on shift tonight")
        results: list[EventResult] = []
        nn = tonight
        for night_of, events in groups:
            if night_of is None:
                results.extend(
                    EventResult(
                        index=index,
                        event_id=event.event_id,
                        outcome=EventOutcome.REJECTED,
                        reason=RejectReason.INVALID,
                        message="not on shift in the night of this event",
                    )
                    for index, event in events
                )
                continue
            nn = night_of
            results.extend(
                service.process_events(
                    self._session,
                    night_of,
                    events,
                    device_id=caller.device_id,
                    template=repo.bag_template(self._session, night_of.region),
                    now=now,
                    settings=self._settings,
                    replanner=self._replanner,
                    sent_at=batch.sent_at,
                )
            )
        assert nn is not None
        # A note a nurse writes at a visit is a write of the client's data (NEN 7513),
        # logged as such: a hand-over note, and the note of a call for back-up or of a door
        # that would not open (R22-07).
        noted = {r.index for r in results if r.outcome == EventOutcome.ACCEPTED}
        written: dict[str, list[int]] = {}
        for index, event in batch.events:
            purpose, text = _note_of(event)
            visit_id = getattr(event, "visit_id", None)
            if (
                index in noted
                and text.strip()
                and isinstance(visit_id, str)
                and visit_id.isascii()
                and visit_id.isdigit()
                and len(visit_id) <= 9
            ):
                written.setdefault(purpose, []).append(int(visit_id))
        for purpose, visit_ids in written.items():
            access_log.record_for_visits(
                self._session, self._principal, visit_ids, event="write", purpose=purpose, at=now
            )
        if written:
            self._session.commit()
        after = nights.latest_published_route(self._session, nn.night, nn.nurse.id)
        version = after.version if after is not None else 0
        return BatchResult(
            received_at=now,
            results=sorted([*results, *batch.rejected], key=lambda r: r.index),
            route_version=version,
        )

    def _by_night(
        self,
        region: Region,
        nurse: Nurse,
        batch: ParsedBatch,
        now: datetime,
        tonight: service.NurseNight | None,
    ) -> list[tuple[service.NurseNight | None, list[tuple[int, Event]]]]:
        """The batch's events grouped by the shift of hers they belong to (``None``: none);
        an event's time is on the server's clock (its clock offset added)."""
        session = self._session
        events = batch.events
        offsets = batch_offsets(events, batch.sent_at, now)
        found: dict[date, service.NurseNight | None] = {}
        if tonight is not None:
            found[tonight.night.night_date] = tonight
        by_date: dict[date, list[tuple[int, Event]]] = {}
        for index, event in events:
            visit_id = getattr(event, "visit_id", None)
            visit = (
                session.get(Visit, int(visit_id))
                if isinstance(visit_id, str)
                and visit_id.isascii()
                and visit_id.isdigit()
                and len(visit_id) <= 9
                else None
            )
            night = session.get(Night, visit.night_id) if visit is not None else None
            if night is not None:
                when = night.night_date
            else:
                at = corrected_time(event.device_time, offsets.get(event.event_id), now)
                when = nights.night_date_for(region, min(at, now))
            if when not in found:
                found[when] = service.nurse_night_of(session, region, nurse, when)
            by_date.setdefault(when, []).append((index, event))
        return [(found[when], grouped) for when, grouped in sorted(by_date.items())]

    def reveal(
        self, caller: Caller, request: KeySafeRevealRequest, now: datetime
    ) -> KeySafeRevealResponse | KeySafeRefusal:
        """Gather the facts, let `api.keysafe.handle_reveal` decide, log and answer."""
        session = self._session
        nurse = self._nurse(caller.nurse_id)
        nn = self._night(caller, now)
        visit = None
        if request.visit_id.isascii() and request.visit_id.isdigit() and len(request.visit_id) <= 9:
            visit = session.get(Visit, int(request.visit_id))
            if visit is not None and (nn is None or visit.night_id != nn.night.id):
                visit = None
        client = session.get(Client, visit.client_id) if visit is not None else None
        asked = repo.device(session, caller.device_id)
        registered = asked if asked is not None and asked.nurse_id == nurse.id else None
        if registered is None:
            registered = repo.active_device_of(session, nurse.id)
        facts = service.reveal_facts(
            session,
            nn,
            nurse,
            visit,
            client,
            device_id=caller.device_id,
            registered=registered,
            position=request.position,
            accuracy_metres=request.accuracy_metres,
            now=now,
            stale_token=_token_predates_revocation(session, self._principal, nurse.id),
        )
        return handle_reveal(
            reveal_id=uuid.uuid4(),
            now=now,
            nurse_id=nurse.code,
            device_id=caller.device_id,
            visit_id=request.visit_id,
            facts=facts,
            max_distance_m=self._max_distance_m,
            codes=repo.SqlKeySafeStore(session),
            keyring=self._keyring(),
            access_log=_AccessLog(session, self._principal, client),
        )

    def refuse_caller(
        self, caller: Caller, visit_id: str | None, now: datetime, reason: str
    ) -> None:
        """The access-log row of a reveal refused before the rules (``reason``: a caller who
        is no active nurse, or a request that does not parse)."""
        access_log.record_keysafe_attempt(
            self._session,
            self._principal,
            None,
            at=now,
            outcome="refused",
            reason=reason,
            device_id=caller.device_id,
            visit_id=visit_id,
            key_id=None,
        )
        self._session.commit()

    def bag_template(self, caller: Caller) -> BagTemplate:
        """The team's night bag template."""
        return repo.bag_template(self._session, accounts.get_region(self._session))

    def bag_status(self, caller: Caller) -> BagStatus | None:
        """The bag now, from the shift-start check and the materials used."""
        nn = self._night(caller, self._now())
        if nn is None:
            return None
        template = repo.bag_template(self._session, nn.region)
        return bag_status(template, service.shift_state(self._session, nn))

    def restock_list(self, caller: Caller) -> RestockList | None:
        """What to refill to make the bag full again."""
        now = self._now()
        nn = self._night(caller, now)
        if nn is None:
            return None
        template = repo.bag_template(self._session, nn.region)
        state = service.shift_state(self._session, nn)
        return restock_list(template, remaining(template, state), generated_at=now)


def _token_predates_revocation(session: Session, principal: Principal, nurse_id: int) -> bool:
    """Whether the token was issued before one of the nurse's phones was revoked or replaced
    (registering a phone revokes her earlier ones): such a token works for no phone."""
    revoked = repo.latest_revocation(session, nurse_id)
    if revoked is None or principal.token_issued_at is None:
        return False
    if revoked.tzinfo is None:
        revoked = revoked.replace(tzinfo=UTC)
    return principal.token_issued_at < int(revoked.timestamp())
