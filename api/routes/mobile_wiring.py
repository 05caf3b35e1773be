"""The service behind the phone router: a `MobileBackend` over the database, and its wiring.

`api.routes.mobile.build_router` owns the HTTP rules of ``/mobile/v1``; this module gives it
the nurse and her phone (`api.phone_deps`), the app's clock, and `DbMobileBackend`, which
answers from the service's tables: tonight's published route, stored phone events, the
encrypted key-safe codes and the NEN 7513 access log.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.problems import Unprocessable
from api.core.roles import Principal
from api.db.models import Client, Nurse, Visit
from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.keysafe import AccessLogEntry, handle_reveal
from api.nightbag import bag_status, remaining, restock_list
from api.phone_deps import (
    api_error,
    get_caller,
    get_keyring,
    get_registering_nurse,
)
from api.repositories import access_log, accounts
from api.repositories import phone as repo
from api.routes.mobile import Caller, build_router
from api.services import phone as service
from mobile_contract.bag import BagStatus, BagTemplate, RestockList
from mobile_contract.devices import DeviceRegistration, DeviceRegistrationRequest, DeviceStatus
from mobile_contract.events import BatchResult, ParsedBatch
from mobile_contract.http import route_etag
from mobile_contract.keysafe import KeySafeRefusal, KeySafeRevealRequest, KeySafeRevealResponse
from mobile_contract.route import MyRoute, RouteChangedNotice

__all__ = ["DbMobileBackend", "get_backend", "router_for"]


class _AccessLog:
    """`api.keysafe.AccessLog` over the service's access log: a row per reveal or refusal.

    The row is committed before the code leaves the server; an attempt on a visit that is
    not tonight's has no client to log against and is logged as a line without personal data.
    """

    def __init__(self, session: Session, principal: Principal, client: Client | None) -> None:
        self._session, self._principal, self._client = session, principal, client

    def write(self, entry: AccessLogEntry) -> None:
        purpose = f"keysafe {entry.outcome} {entry.reason or ''} {entry.reveal_id}"
        if self._client is None:
            service.logger.info("key-safe reveal for no visit of tonight: %s", purpose)
            return
        access_log.record(
            self._session,
            self._principal,
            [self._client],
            event="keysafe.reveal",
            purpose=" ".join(purpose.split())[:80],
            at=entry.at,
        )
        self._session.commit()


class DbMobileBackend:
    """`api.routes.mobile.MobileBackend` over the service's database, for one request."""

    def __init__(
        self,
        request: Request,
        session: Session,
        settings: Settings,
        principal: Principal,
    ) -> None:
        self._request = request
        self._session = session
        self._settings = settings
        self._principal = principal

    # -- helpers

    def _nurse(self, code: str) -> Nurse:
        nurse = self._session.scalars(select(Nurse).where(Nurse.code == code)).first()
        assert nurse is not None  # the caller dependency found her a moment ago
        return nurse

    def _night(self, caller: Caller, now: datetime) -> service.NurseNight | None:
        region = accounts.get_region(self._session)
        return service.nurse_night(self._session, region, self._nurse(caller.nurse_id), now)

    def _now(self) -> datetime:
        now: datetime = self._request.app.state.clock()
        return now

    # -- MobileBackend

    def register_device(
        self, nurse_id: str, request: DeviceRegistrationRequest, now: datetime
    ) -> DeviceRegistration:
        """Register the phone; the nurse's earlier phones are revoked."""
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
        template = repo.bag_template(self._session, nn.region)
        state = service.shift_state(self._session, nn)
        route, clients = service.build_route(self._session, nn, template, state, now=now)
        state_of_app = self._request.app.state
        logged: dict[str, str] | None = getattr(state_of_app, "phone_route_logged", None)
        if logged is None:
            logged = state_of_app.phone_route_logged = {}
        etag = route_etag(route)
        if logged.get(caller.nurse_id) != etag:
            unique = list({c.id: c for c in clients}.values())
            access_log.record(
                self._session,
                self._principal,
                unique,
                event="read",
                purpose="nurse route",
                at=now,
            )
            self._session.commit()
            logged[caller.nurse_id] = etag
        return route

    def notices_after(self, caller: Caller, last_event_id: int) -> Sequence[RouteChangedNotice]:
        """Route-changed notices after ``last_event_id`` (a fresh session per poll)."""
        with self._request.app.state.session_factory() as session:
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
        """Store the batch once per event; visits move forward; the night is re-planned."""
        nn = self._night(caller, now)
        if nn is None:
            raise api_error(Unprocessable, "not_on_shift", "you are not on shift tonight")
        results = service.process_events(
            self._session,
            nn,
            batch.events,
            device_id=caller.device_id,
            template=repo.bag_template(self._session, nn.region),
            now=now,
            replanner=self._request.app.state.replanner,
        )
        after = self._night(caller, now)
        version = after.route.version if after is not None and after.route is not None else 0
        return BatchResult(
            received_at=now,
            results=sorted([*results, *batch.rejected], key=lambda r: r.index),
            route_version=version,
        )

    def reveal(
        self, caller: Caller, request: KeySafeRevealRequest, now: datetime
    ) -> KeySafeRevealResponse | KeySafeRefusal:
        """Gather the facts, let `api.keysafe.handle_reveal` decide, log and answer."""
        session = self._session
        nurse = self._nurse(caller.nurse_id)
        nn = self._night(caller, now)
        visit = None
        if request.visit_id.isdigit() and len(request.visit_id) <= 9:
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
        )
        return handle_reveal(
            reveal_id=uuid.uuid4(),
            now=now,
            nurse_id=nurse.code,
            device_id=caller.device_id,
            visit_id=request.visit_id,
            facts=facts,
            max_distance_m=self._settings.keysafe_max_distance_m,
            codes=repo.SqlKeySafeStore(session),
            keyring=get_keyring(self._request, self._settings),
            access_log=_AccessLog(session, self._principal, client),
        )

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


def get_backend(
    request: Request, session: SessionDep, settings: SettingsDep, principal: PrincipalDep
) -> DbMobileBackend:
    """The database backend for this request."""
    return DbMobileBackend(request, session, settings, principal)


_Env = Literal["development", "test", "production"]


def router_for(app: FastAPI) -> APIRouter:
    """The ``/mobile/v1`` router on the app's clock; under test the change stream closes
    once it has caught up (so a test never waits on it)."""
    settings: Settings = app.state.settings
    environment: _Env = settings.environment
    stream = 0.0 if environment == "test" else settings.route_stream_seconds
    return build_router(
        backend=get_backend,
        caller=get_caller,
        nurse=get_registering_nurse,
        clock=lambda: app.state.clock(),
        stream_seconds=stream,
    )
