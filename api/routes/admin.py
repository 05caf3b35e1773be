"""Setting up the team: organisations, their API keys, users, nurses and shifts (admin)."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from api.core.roles import Principal, Role
from api.deps import ClockDep, ReplannerDep, SessionDep, SettingsDep, allow
from api.repositories import accounts
from api.schemas.accounts import (
    ApiKeyCreated,
    ApiKeyPublic,
    ApiKeyRevoked,
    NurseCreate,
    NursePublic,
    OrganisationCreate,
    OrganisationPublic,
    ShiftSet,
    UserCreate,
    UserDeactivated,
    UserListed,
    UserPublic,
    UserReactivated,
)
from api.services import shifts

router = APIRouter(tags=["admin"])
Admin = Annotated[Principal, Depends(allow(Role.ADMIN))]
AdminOrPlanner = Annotated[Principal, Depends(allow(Role.ADMIN, Role.PLANNER))]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/admin/organisations", status_code=status.HTTP_201_CREATED)
def create_organisation(
    body: OrganisationCreate, session: SessionDep, clock: ClockDep, _: Admin
) -> OrganisationPublic:
    """Add a partner organisation; it shares the fixed cost of the nights that start from
    ``member_since`` on (default: now)."""
    organisation = accounts.create_organisation(
        session,
        name=body.name,
        kind=body.kind,
        member_since=body.member_since or clock(),
    )
    return OrganisationPublic.model_validate(organisation)


@router.get("/admin/organisations")
def list_organisations(session: SessionDep, _: Admin) -> list[OrganisationPublic]:
    """All partner organisations."""
    return [OrganisationPublic.model_validate(o) for o in accounts.list_organisations(session)]


@router.post("/admin/organisations/{organisation_id}/api-keys", status_code=status.HTTP_201_CREATED)
def create_api_key(
    organisation_id: Id,
    session: SessionDep,
    settings: SettingsDep,
    admin: Admin,
    response: Response,
) -> ApiKeyCreated:
    """A system-to-system key for the organisation, shown once."""
    response.headers["Cache-Control"] = "no-store"  # a credential: never kept by a cache
    key, token = accounts.create_api_key(
        session, organisation_id, settings=settings, responsible_user_id=admin.user_id
    )
    return ApiKeyCreated(
        id=key.id,
        organisation_id=key.organisation_id,
        prefix=key.prefix,
        role=Role(key.role),
        key=token,
    )


@router.get("/admin/organisations/{organisation_id}/api-keys")
def list_api_keys(organisation_id: Id, session: SessionDep, _: Admin) -> list[ApiKeyPublic]:
    """The organisation's keys, revoked ones included, never a secret: find a leaked key's
    id by its prefix (``nrk_<prefix>_...``) to revoke it."""
    return [
        ApiKeyPublic(
            id=key.id,
            organisation_id=key.organisation_id,
            prefix=key.prefix,
            role=Role(key.role),
            created_at=key.created_at.astimezone(UTC),
            revoked_at=key.revoked_at.astimezone(UTC) if key.revoked_at is not None else None,
        )
        for key in accounts.list_api_keys(session, organisation_id)
    ]


@router.post("/admin/organisations/{organisation_id}/api-keys/{key_id}/revoke")
def revoke_api_key(
    organisation_id: Id, key_id: Id, session: SessionDep, clock: ClockDep, admin: Admin
) -> ApiKeyRevoked:
    """Revoke one of the organisation's keys (a leaked or retired partner system's): every
    request with it is refused from now on (401). The answer never holds the secret."""
    key = accounts.revoke_api_key(session, organisation_id, key_id, acting=admin, now=clock())
    assert key.revoked_at is not None
    return ApiKeyRevoked(
        id=key.id,
        organisation_id=key.organisation_id,
        prefix=key.prefix,
        role=Role(key.role),
        revoked_at=key.revoked_at.astimezone(UTC),
    )


@router.post("/admin/users", status_code=status.HTTP_201_CREATED)
def create_user(
    body: UserCreate, session: SessionDep, settings: SettingsDep, _: Admin
) -> UserPublic:
    """Add a user in one role."""
    user = accounts.create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        organisation_id=body.organisation_id,
        nurse_id=body.nurse_id,
        totp_secret=body.totp_secret,
        settings=settings,
    )
    return UserPublic.model_validate(user)


@router.get("/admin/users")
def list_users(session: SessionDep, _: Admin) -> list[UserListed]:
    """Every login, deactivated ones included (no password hash, no TOTP secret): find one
    by its username to deactivate it."""
    return [
        UserListed(
            id=user.id,
            username=user.username,
            role=Role(user.role),
            organisation_id=user.organisation_id,
            nurse_id=user.nurse_id,
            active=user.active,
        )
        for user in accounts.list_users(session)
    ]


@router.post("/admin/users/{user_id}/deactivate")
def deactivate_user(
    user_id: Id, session: SessionDep, clock: ClockDep, admin: Admin
) -> UserDeactivated:
    """Deactivate a login (a leaked password, a colleague who left): she cannot sign in and
    every token of hers is refused from now on (401). Not your own (422)."""
    user = accounts.deactivate_user(session, user_id, acting=admin, now=clock())
    return UserDeactivated(
        id=user.id, username=user.username, role=Role(user.role), active=user.active
    )


@router.post("/admin/users/{user_id}/reactivate")
def reactivate_user(
    user_id: Id, session: SessionDep, clock: ClockDep, admin: Admin
) -> UserReactivated:
    """Let a deactivated login sign in again (a colleague back, a leaked password reset):
    every token issued before its deactivation stays refused (401), she signs in anew. A
    nurse's login while another login of hers is active: 409."""
    user = accounts.reactivate_user(session, user_id, acting=admin, now=clock())
    return UserReactivated(
        id=user.id, username=user.username, role=Role(user.role), active=user.active
    )


@router.post("/admin/nurses", status_code=status.HTTP_201_CREATED)
def create_nurse(body: NurseCreate, session: SessionDep, _: Admin) -> NursePublic:
    """Add a night nurse."""
    nurse = accounts.create_nurse(
        session,
        code=body.code,
        display_name=body.display_name,
        skills=list(body.skills),
        profile=body.profile,
    )
    return NursePublic.model_validate(nurse)


@router.get("/nurses")
def list_nurses(session: SessionDep, _: AdminOrPlanner) -> list[NursePublic]:
    """The night team."""
    return [NursePublic.model_validate(n) for n in accounts.list_nurses(session)]


@router.put("/nurses/{nurse_id}/shifts", status_code=status.HTTP_204_NO_CONTENT)
def set_shift(
    nurse_id: Id,
    body: ShiftSet,
    session: SessionDep,
    clock: ClockDep,
    replanner: ReplannerDep,
    _: AdminOrPlanner,
) -> None:
    """Put a nurse on a night (inside the region's night; on a night under way her route
    is re-planned, e.g. a nurse sent home ill)."""
    night_id = shifts.set_shift(
        session,
        nurse_id,
        night_date=body.night_date,
        start=body.start,
        end=body.end,
        now=clock(),
    )
    if night_id is not None:
        replanner.notify(night_id)
