"""The v1 endpoints of the phone API, declared once: path, method, request and response models.

`mobile_contract.openapi` builds the committed ``openapi.json`` from this list; the API's
router implements exactly these (paths are relative to `PREFIX`). Every endpoint needs the
nurse's token bound to her phone's key (``Authorization: DPoP``) and a fresh ``DPoP`` proof
by that key (`mobile_contract.proofs`); `register_device` needs her sign-in with second
factor, and the other calls the registered phone (``X-Device-Id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from mobile_contract._base import ApiError
from mobile_contract.bag import BagStatus, BagTemplate, RestockList
from mobile_contract.devices import DeviceRegistration, DeviceRegistrationRequest
from mobile_contract.events import BatchResult, EventBatch
from mobile_contract.keysafe import KeySafeRefusal, KeySafeRevealRequest, KeySafeRevealResponse
from mobile_contract.proofs import DPOP_HEADER_DESCRIPTION
from mobile_contract.route import MyRoute, RouteChangedNotice

__all__ = ["ENDPOINTS", "PREFIX", "Endpoint", "Header"]

PREFIX = "/mobile/v1"


@dataclass(frozen=True, slots=True)
class Header:
    """A request header an endpoint reads."""

    name: str
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One operation: ``responses`` maps a status code to its body model (None: no body)."""

    operation_id: str
    method: Literal["get", "post"]
    path: str
    summary: str
    request: type[BaseModel] | None
    responses: Mapping[int, type[BaseModel] | None]
    headers: tuple[Header, ...] = ()
    response_headers: tuple[str, ...] = ()
    media_type: str = "application/json"
    no_store: bool = False
    description: str = ""


_AUTH_ERRORS: dict[int, type[BaseModel] | None] = {401: ApiError, 403: ApiError}
#: The registered phone's id, sent with the token on every call after `register_device`
#: (401 ``device_not_registered`` or ``device_revoked`` without a registered, active phone).
_DEVICE = Header("X-Device-Id", "the device_id register_device returned for this phone")
#: The proof of possession of the phone's key, fresh for every call (`mobile_contract.proofs`).
_PROOF = Header("DPoP", DPOP_HEADER_DESCRIPTION, required=True)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        operation_id="register_device",
        method="post",
        path="/devices",
        summary="Register this phone for the signed-in nurse",
        request=DeviceRegistrationRequest,
        responses={201: DeviceRegistration, 401: ApiError, 422: ApiError},
        headers=(_PROOF,),
        description="Signed in with her second factor and a DPoP proof (the token is bound "
        "to the proof's key); public_key must be that key. 401 proof_key_mismatch otherwise.",
    ),
    Endpoint(
        operation_id="get_my_route",
        method="get",
        path="/me/route",
        summary="The nurse's route tonight (304 when If-None-Match names its ETag)",
        request=None,
        responses={200: MyRoute, 304: None, 404: ApiError, **_AUTH_ERRORS},
        headers=(
            _DEVICE,
            _PROOF,
            Header("If-None-Match", "the ETag of the route the phone holds"),
        ),
        response_headers=("ETag",),
        description="Served gzip-compressed when the phone accepts it; a 20-visit route "
        "stays under 20 KB compressed. Polling this with If-None-Match is the fallback "
        "when the change stream is not available.",
    ),
    Endpoint(
        operation_id="stream_route_changes",
        method="get",
        path="/me/route/changes",
        summary="Server-sent events: a route_changed notice for each new route version",
        request=None,
        responses={200: RouteChangedNotice, **_AUTH_ERRORS, 429: ApiError},
        headers=(
            _DEVICE,
            _PROOF,
            Header("Last-Event-ID", "resume after this notice's event_id"),
        ),
        media_type="text/event-stream",
        description="Each message: `id: <event_id>`, `event: route_changed`, "
        "`data: <RouteChangedNotice JSON>`. A phone reconnecting with Last-Event-ID gets "
        "every notice after it. One nurse's phones hold a few streams open at once (the "
        "service's setting, 3 by default); another is refused 429 `too_many_streams` with "
        "`Retry-After`: poll `GET /me/route` meanwhile.",
    ),
    Endpoint(
        operation_id="upload_events",
        method="post",
        path="/me/events",
        summary="Upload a batch of events; idempotent by event_id, order does not matter",
        headers=(_DEVICE, _PROOF),
        request=EventBatch,
        responses={200: BatchResult, 422: ApiError, **_AUTH_ERRORS},
        description="One malformed event is rejected on its own (reason invalid); the "
        "others are still accepted.",
    ),
    Endpoint(
        operation_id="reveal_key_safe_code",
        method="post",
        path="/me/keysafe/reveal",
        summary="Reveal a visit's key-safe (sleutelkluis) code, if allowed now",
        headers=(_DEVICE, _PROOF),
        request=KeySafeRevealRequest,
        responses={200: KeySafeRevealResponse, 403: KeySafeRefusal, 401: ApiError, 422: ApiError},
        no_store=True,
        description="Only for the nurse assigned to the visit tonight, from 30 minutes before "
        "her ETA until 15 minutes after the visit ends, from her registered device (a DPoP "
        "proof by its key), signed in with her second factor, and where the team requires "
        "it within a set distance of the address. 401 with a ProofRefusalReason code "
        "(second_factor_required for a password-only token). Every reveal and refusal is "
        "written to the access log.",
    ),
    Endpoint(
        operation_id="get_bag_template",
        method="get",
        path="/me/bag/template",
        summary="The team's night bag (nachttas) template: items, minimum and full quantities",
        headers=(_DEVICE, _PROOF),
        request=None,
        responses={200: BagTemplate, **_AUTH_ERRORS},
    ),
    Endpoint(
        operation_id="get_bag_status",
        method="get",
        path="/me/bag",
        summary="The bag now: counted at shift start minus materials used, and shortages",
        headers=(_DEVICE, _PROOF),
        request=None,
        responses={200: BagStatus, 404: ApiError, **_AUTH_ERRORS},
    ),
    Endpoint(
        operation_id="get_restock_list",
        method="get",
        path="/me/bag/restock",
        summary="At shift end: what to refill to make the bag full again",
        headers=(_DEVICE, _PROOF),
        request=None,
        responses={200: RestockList, 404: ApiError, **_AUTH_ERRORS},
    ),
)
