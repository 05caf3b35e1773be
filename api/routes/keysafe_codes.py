"""Partners set their clients' key-safe (sleutelkluis) codes: write-only, encrypted at rest.

The API never returns a code to a partner: ``PUT`` stores it (AES-GCM, `api.keysafe`) and
answers 204; ``GET`` says only whether a code is on file, when it was set, and whether a
nurse reported that it did not work. The code is not in any error text or log line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from api.core.problems import Unprocessable
from api.core.roles import Principal, Role
from api.deps import ClockDep, KeyringDep, SessionDep, allow
from api.keysafe import InvalidCodeError, KeySafeCode
from api.repositories import clients
from api.repositories import phone as repo

router = APIRouter(tags=["partners: key-safe codes"])
Partner = Annotated[Principal, Depends(allow(Role.PARTNER))]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


class KeySafeCodeSet(BaseModel):
    """The new code: 3 to 16 letters or digits. It is stored encrypted and never shown again."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    code: SecretStr = Field(min_length=3, max_length=16, json_schema_extra={"writeOnly": True})


class KeySafeStatus(BaseModel):
    """Whether a code is on file (never the code), and whether a nurse flagged it."""

    client_id: int
    code_on_file: bool
    set_at: datetime | None
    flagged_could_not_get_in: bool
    flagged_at: datetime | None


@router.put("/partner/v1/clients/{client_id}/keysafe", status_code=status.HTTP_204_NO_CONTENT)
def set_key_safe_code(
    client_id: Id,
    body: KeySafeCodeSet,
    session: SessionDep,
    clock: ClockDep,
    keyring: KeyringDep,
    partner: Partner,
) -> Response:
    """Set or replace your client's key-safe code (write-only: it is never returned)."""
    now = clock()
    client = clients.find_client_for_partner(
        session, partner, client_id, now=now, event="update", purpose="set key-safe code"
    )
    try:
        code = KeySafeCode(body.code.get_secret_value())
    except InvalidCodeError as error:
        raise Unprocessable(str(error)) from None
    repo.set_code(session, partner, client, code, keyring, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/partner/v1/clients/{client_id}/keysafe")
def read_key_safe_status(
    client_id: Id, session: SessionDep, clock: ClockDep, partner: Partner
) -> KeySafeStatus:
    """Whether your client's code is on file and whether a nurse could not get in with it."""
    client = clients.get_client(session, partner, client_id, purpose="key-safe status", now=clock())
    record = repo.keysafe_record(session, client.id)
    return KeySafeStatus(
        client_id=client.id,
        code_on_file=record is not None,
        set_at=record.set_at if record else None,
        flagged_could_not_get_in=bool(record and record.flagged_could_not_get_in),
        flagged_at=record.flagged_at if record else None,
    )
