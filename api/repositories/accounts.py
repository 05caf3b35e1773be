"""Region, organisations, users, API keys, nurses and shifts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import totp_vault
from api.core import security
from api.core.config import Settings
from api.core.problems import Conflict, NotFound, ProblemError, Unauthorised, Unprocessable
from api.core.roles import ORGANISATION_ROLES, Principal, Role
from api.db.models import ApiKey, Nurse, Organisation, Region, Shift, User
from api.keysafe import Keyring, KeyringError

__all__ = [
    "authenticate",
    "create_api_key",
    "create_nurse",
    "create_organisation",
    "create_user",
    "get_region",
    "list_nurses",
    "list_organisations",
    "principal_from_api_key",
    "principal_from_token",
    "set_shift",
]


def get_region(session: Session) -> Region:
    """The region (one night team per deployment)."""
    region = session.scalars(select(Region).order_by(Region.id).limit(1)).first()
    if region is None:
        raise NotFound("no region is set up yet (run `nachtroute demo` or seed one)")
    return region


def create_region(
    session: Session,
    *,
    name: str,
    base_lat: float,
    base_lon: float,
    night_start: str = "23:00",
    night_end: str = "07:00",
) -> Region:
    """Create the region."""
    region = Region(
        name=name,
        base_lat=base_lat,
        base_lon=base_lon,
        night_start=night_start,
        night_end=night_end,
    )
    session.add(region)
    session.commit()
    return region


def create_organisation(session: Session, *, name: str, kind: str) -> Organisation:
    """A new partner organisation in the region."""
    organisation = Organisation(region_id=get_region(session).id, name=name, kind=kind)
    session.add(organisation)
    _commit_unique(session, "an organisation with this name exists")
    return organisation


def list_organisations(session: Session) -> list[Organisation]:
    """All organisations."""
    return list(session.scalars(select(Organisation).order_by(Organisation.id)))


def get_organisation(session: Session, organisation_id: int) -> Organisation:
    """One organisation, or 404."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound("no such organisation")
    return organisation


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    organisation_id: int | None = None,
    nurse_id: int | None = None,
    totp_secret: str | None = None,
    settings: Settings | None = None,
) -> User:
    """A user; organisation-scoped roles must name their organisation, nurses their nurse."""
    if role in ORGANISATION_ROLES and organisation_id is None:
        raise Unprocessable(f"role {role.value} needs an organisation_id")
    if role not in ORGANISATION_ROLES and organisation_id is not None:
        raise Unprocessable(f"role {role.value} does not belong to an organisation")
    if role == Role.NURSE and nurse_id is None:
        raise Unprocessable("role nurse needs a nurse_id")
    if organisation_id is not None:
        organisation = get_organisation(session, organisation_id)
        wanted = "triage" if role == Role.TRIAGE else "home_care"
        if role != Role.PRIVACY_OFFICER and organisation.kind != wanted:
            raise Unprocessable(f"role {role.value} belongs to a {wanted} organisation")
    if nurse_id is not None and session.get(Nurse, nurse_id) is None:
        raise NotFound("no such nurse")
    if role == Role.PRIVACY_OFFICER and not totp_secret:
        raise Unprocessable("a privacy officer needs a TOTP secret (second factor)")
    user = User(
        username=username,
        password_hash=security.hash_password(password),
        role=role.value,
        organisation_id=organisation_id,
        nurse_id=nurse_id,
    )
    session.add(user)
    if totp_secret:
        if settings is None:
            raise ValueError("a TOTP secret is sealed with the keyring: pass settings")
        session.flush()  # the user's id binds the sealed secret to her
        user.totp_secret = totp_vault.seal(totp_secret, user_id=user.id, keyring=_keyring(settings))
    _commit_unique(session, "this username is taken")
    return user


class KeysNotConfigured(ProblemError):
    status, slug, title = 503, "keysafe-keys-missing", "Keys not configured"


def _keyring(settings: Settings) -> Keyring:
    try:
        return totp_vault.keyring_for(settings)
    except KeyringError:
        raise KeysNotConfigured("the keyring is not configured (NACHTROUTE_KEYSAFE_KEYS)") from None


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    totp_code: str | None,
    now: datetime,
    settings: Settings,
) -> tuple[User, bool]:
    """The user and whether a valid second factor was given; 401 on a wrong password."""
    user = session.scalars(select(User).where(User.username == username)).first()
    ok = security.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        raise Unauthorised("unknown user or wrong password")
    secret = None
    if totp_code and user.totp_secret:
        keyring = _keyring(settings)
        secret = totp_vault.unseal(user.totp_secret, user_id=user.id, keyring=keyring)
    second = security.verify_totp(secret, totp_code, now=now)
    if totp_code and not second:
        raise Unauthorised("the one-time code is wrong or expired")
    return user, second


def principal_from_token(
    session: Session, token: str, *, settings: Settings, now: datetime
) -> Principal | None:
    """The signed-in user behind a token, if the token and the user are still valid."""
    claims = security.decode_token(token, secret=settings.secret_key.get_secret_value(), now=now)
    if claims is None:
        return None
    user = session.get(User, claims.user_id)
    if user is None or not user.active or user.role != claims.role:
        return None
    return Principal(
        role=Role(user.role),
        actor=user.username,
        user_id=user.id,
        organisation_id=user.organisation_id,
        nurse_id=user.nurse_id,
        responsible_user_id=user.id,
        second_factor=claims.second_factor,
        token_issued_at=claims.issued_at,
    )


def principal_from_api_key(
    session: Session, presented: str, *, settings: Settings
) -> Principal | None:
    """The partner system behind an API key, if the key is known and not revoked."""
    parts = security.parse_api_key(presented)
    if parts is None:
        return None
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == parts.prefix)).first()
    pepper = settings.api_key_pepper.get_secret_value()
    if key is None or key.revoked_at is not None:
        return None
    if not security.verify_api_secret(parts.secret, key.secret_hash, pepper=pepper):
        return None
    return Principal(
        role=Role(key.role),
        actor=f"api-key:{key.prefix}",
        api_key_id=key.id,
        organisation_id=key.organisation_id,
        responsible_user_id=key.responsible_user_id,
    )


def create_api_key(
    session: Session, organisation_id: int, *, settings: Settings, responsible_user_id: int | None
) -> tuple[ApiKey, str]:
    """A new key for an organisation; the full key is returned once and never stored."""
    organisation = get_organisation(session, organisation_id)
    parts = security.new_api_key()
    key = ApiKey(
        organisation_id=organisation.id,
        prefix=parts.prefix,
        secret_hash=security.hash_api_secret(
            parts.secret, pepper=settings.api_key_pepper.get_secret_value()
        ),
        role=Role.TRIAGE.value if organisation.kind == "triage" else Role.PARTNER.value,
        responsible_user_id=responsible_user_id,
    )
    session.add(key)
    session.commit()
    return key, parts.token


def create_nurse(
    session: Session, *, code: str, display_name: str, skills: list[str], profile: str = "car"
) -> Nurse:
    """A nurse of the night team."""
    nurse = Nurse(
        region_id=get_region(session).id,
        code=code,
        display_name=display_name,
        skills=sorted(set(skills)),
        profile=profile,
    )
    session.add(nurse)
    _commit_unique(session, "a nurse with this code exists")
    return nurse


def list_nurses(session: Session) -> list[Nurse]:
    """The team's active nurses."""
    return list(session.scalars(select(Nurse).where(Nurse.active).order_by(Nurse.code)))


def get_nurse(session: Session, nurse_id: int) -> Nurse:
    """One nurse, or 404."""
    nurse = session.get(Nurse, nurse_id)
    if nurse is None:
        raise NotFound("no such nurse")
    return nurse


def set_shift(session: Session, nurse_id: int, *, night_date: date, start: str, end: str) -> Shift:
    """Put a nurse on the night of ``night_date`` (replacing her earlier shift that night)."""
    get_nurse(session, nurse_id)
    shift = session.scalars(
        select(Shift).where(Shift.nurse_id == nurse_id, Shift.night_date == night_date)
    ).first()
    if shift is None:
        shift = Shift(nurse_id=nurse_id, night_date=night_date, start=start, end=end)
        session.add(shift)
    else:
        shift.start, shift.end = start, end
    session.commit()
    return shift


def _commit_unique(session: Session, message: str) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(message) from None
