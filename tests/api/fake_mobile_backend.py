"""An in-memory `MobileBackend` wired from the pure modules: the reference the service follows.

One nurse N1 on phone D1, one fictional client, a route built by the contract tests' builder.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import uuid4

from api.keysafe import (
    AccessLogEntry,
    Assignment,
    EncryptedCode,
    Keyring,
    KeySafeCode,
    RevealFacts,
    distance_metres,
    encrypt,
    handle_reveal,
)
from api.nightbag import bag_status, remaining, restock_list
from api.offline_events import InMemoryEventStore, ShiftState, apply_batch, derive_state
from api.routes.mobile import Caller
from mobile_contract.bag import BagStatus, BagTemplate, RestockList
from mobile_contract.devices import DeviceRegistration, DeviceRegistrationRequest, DeviceStatus
from mobile_contract.events import BatchResult, ParsedBatch, RejectReason
from mobile_contract.keysafe import KeySafeRefusal, KeySafeRevealRequest, KeySafeRevealResponse
from mobile_contract.route import MyRoute, RouteChangedNotice, VisitStep
from tests.mobile_contract.builders import route

CODE = "FAKE0000"
KEYRING = Keyring({"k1": bytes(range(32))}, "k1")
TEMPLATE = BagTemplate.model_validate(
    {
        "team_id": "team-test",
        "version": 1,
        "items": [
            {"item_id": "gloves", "label": "Handschoenen / gloves", "minimum": 20, "full": 50}
        ],
    }
)


class FakeBackend:
    """Everything of one test night in memory."""

    def __init__(self) -> None:
        self.route: MyRoute = route(3)
        self.notices: list[RouteChangedNotice] = []
        self.events = InMemoryEventStore()
        self.access_log: list[AccessLogEntry] = []
        self.refused_callers: list[tuple[str, str | None]] = []
        self.devices = {"D1": ("N1", False)}
        self.codes: dict[str, EncryptedCode] = {
            f"C-{s.visit_id}": encrypt(KeySafeCode(CODE), f"C-{s.visit_id}", KEYRING)
            for s in self.route.steps
            if isinstance(s, VisitStep) and s.access.key_safe_present
        }

    # -- MobileBackend

    def register_device(
        self, nurse_id: str, request: DeviceRegistrationRequest, now: datetime
    ) -> DeviceRegistration:
        device_id = f"D{len(self.devices) + 1}"
        self.devices[device_id] = (nurse_id, False)
        return DeviceRegistration(
            device_id=device_id, nurse_id=nurse_id, registered_at=now, status=DeviceStatus.ACTIVE
        )

    def my_route(self, caller: Caller) -> MyRoute | None:
        return self.route if caller.nurse_id == self.route.nurse_id else None

    def notices_after(self, caller: Caller, last_event_id: int) -> Sequence[RouteChangedNotice]:
        return [n for n in self.notices if n.event_id > last_event_id]

    def upload_events(self, caller: Caller, batch: ParsedBatch, now: datetime) -> BatchResult:
        visits = {s.visit_id for s in self.route.steps if isinstance(s, VisitStep)}
        results = apply_batch(
            self.events,
            batch.events,
            nurse_id=caller.nurse_id,
            device_id=caller.device_id,
            shift_id=self.route.shift_id,
            received_at=now,
            check_visit=lambda v: None if v in visits else RejectReason.UNKNOWN_VISIT,
        )
        return BatchResult(
            received_at=now,
            results=sorted([*results, *batch.rejected], key=lambda r: r.index),
            route_version=self.route.version,
        )

    def refuse_caller(
        self, caller: Caller, visit_id: str | None, now: datetime, reason: str
    ) -> None:
        self.refused_callers.append((reason, visit_id))

    def reveal(
        self, caller: Caller, request: KeySafeRevealRequest, now: datetime
    ) -> KeySafeRevealResponse | KeySafeRefusal:
        step = next(
            (
                s
                for s in self.route.steps
                if isinstance(s, VisitStep) and s.visit_id == request.visit_id
            ),
            None,
        )
        nurse, revoked = self.devices.get(caller.device_id, (None, False))
        assignment = (
            None
            if step is None
            else Assignment(
                visit_id=step.visit_id,
                client_id=f"C-{step.visit_id}",
                nurse_ids=frozenset({self.route.nurse_id}),
                key_safe_present=step.access.key_safe_present,
            )
        )
        facts = RevealFacts(
            assignment=assignment,
            eta=step.eta if step else now,
            visit_end=step.end if step else now,
            registered_device=caller.device_id if nurse == caller.nurse_id else None,
            revoked=revoked,
            distance_m=None
            if step is None or request.position is None
            else distance_metres(
                request.position, step.address.location, accuracy_metres=request.accuracy_metres
            ),
        )
        return handle_reveal(
            reveal_id=uuid4(),
            now=now,
            nurse_id=caller.nurse_id,
            device_id=caller.device_id,
            visit_id=request.visit_id,
            facts=facts,
            max_distance_m=250.0,
            codes=self,
            keyring=KEYRING,
            access_log=self,
        )

    def bag_template(self, caller: Caller) -> BagTemplate:
        return TEMPLATE

    def bag_status(self, caller: Caller) -> BagStatus | None:
        return bag_status(TEMPLATE, self._state())

    def restock_list(self, caller: Caller) -> RestockList | None:
        state = self._state()
        moment = state.shift_ended_at or self.route.shift.end
        return restock_list(TEMPLATE, remaining(TEMPLATE, state), generated_at=moment)

    # -- CodeStore and AccessLog for handle_reveal

    def record_for(self, client_id: str) -> EncryptedCode | None:
        return self.codes.get(client_id)

    def write(self, entry: AccessLogEntry) -> None:
        self.access_log.append(entry)

    def _state(self) -> ShiftState:
        return derive_state(self.events.for_shift(self.route.nurse_id, self.route.shift_id))

    def add_notice(self, reason: str = "replanned") -> RouteChangedNotice:
        notice = RouteChangedNotice(
            event_id=len(self.notices) + 1,
            nurse_id="N1",
            route_version=self.route.version + len(self.notices) + 1,
            changed_at=self.route.generated_at + timedelta(minutes=len(self.notices)),
            reason=reason,  # type: ignore[arg-type]
        )
        self.notices.append(notice)
        return notice
