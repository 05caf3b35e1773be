"""Region, organisations, users, API keys, nurses and shifts."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import totp_vault
from api.core import dpop, security
from api.core.config import Settings
from api.core.problems import Conflict, NotFound, ProblemError, Unauthorised, Unprocessable
from api.core.roles import ORGANISATION_ROLES, Principal, Role
from api.db.models import ApiKey, Nurse, Organisation, Region, Shift, SignInThrottle, User
from api.db.phone_models import PhoneDevice
from api.keysafe import Keyring, KeyringError
from api.repositories import access_log

__all__ = [
    "TokenCaller",
    "TooManyAttempts",
    "authenticate",
    "create_api_key",
    "create_nurse",
    "create_organisation",
    "create_user",
    "enrol_totp",
    "get_region",
    "list_nurses",
    "list_organisations",
    "principal_from_api_key",
    "principal_from_token",
    "set_shift",
    "token_caller",
]


#: `get_region`'s query, built once: every request reads the region.
_FIRST_REGION = select(Region).order_by(Region.id).limit(1)


def get_region(session: Session) -> Region:
    """The region (one night team per deployment)."""
    region = session.scalars(_FIRST_REGION).first()
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


def create_organisation(
    session: Session, *, name: str, kind: str, member_since: datetime | None = None
) -> Organisation:
    """A new partner organisation in the region; ``member_since`` (aware) is the moment from
    which it shares the team's fixed cost (None: from the start, as the seeded partners)."""
    organisation = Organisation(
        region_id=get_region(session).id, name=name, kind=kind, member_since=member_since
    )
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
    """A user; organisation-scoped roles must name their organisation, nurses their nurse.

    ``totp_secret``: only for seeding fictional demo logins; through the API every user
    enrols her own second factor (`enrol_totp`), so its creator never learns it. A privacy
    officer opens the access log only with it (the export checks the token's second factor).
    """
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
    if role == Role.NURSE and nurse_id is not None and _has_active_login(session, nurse_id):
        # One login per nurse: a second one (made by an admin, with a second factor the
        # admin enrolled) could otherwise register a phone as her and reveal codes.
        raise Conflict("this nurse has a login already")
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


class TooManyAttempts(ProblemError):
    """429: too many failed sign-ins for this account at this address, from this address, or
    for this account from all addresses (`security.SignInLimits`); ``retry_after``
    in seconds (the route sends it as ``Retry-After``)."""

    status, slug, title = 429, "too-many-sign-in-attempts", "Too many sign-in attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed sign-ins: try again in {retry_after} s",
            extra={"retry_after": retry_after},
        )
        self.retry_after = retry_after


def _client_block(address: str | None) -> str | None:
    """The client address as the sign-in limits count it: an IPv6 address by its /64 (one
    host holds all of them: counted one by one, a new address per try met no limit; review
    s26), an IPv4-mapped one as its IPv4 address, anything else as given."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _throttle_keys(
    username: str,
    address: str | None,
    settings: Settings,
    limits: security.SignInLimits,
    *,
    phone_key: str | None = None,
) -> list[tuple[str, int]]:
    """The throttle keys of a sign-in, each with its limit (`security.SignInLimits`).

    First the key a success clears: the account at this address, or with ``phone_key`` her
    registered phone's own. Then the address's across accounts and, without ``phone_key``,
    the account's across addresses (the backstop; a success does not clear it, or her own
    sign-ins would reset an attacker's budget). Her phone is kept out of the backstop, as out
    of the account's count before it: nobody without its private key can fail on its
    limit, and a backstop tripped from elsewhere must not cut her phone off all night.
    """
    pepper = settings.secret_key.get_secret_value()
    address = _client_block(address)
    where = (address or "").strip().lower()
    if phone_key is None:
        first = security.throttle_key("account-address", f"{username}\x00{where}", pepper=pepper)
        keys = [(first, limits.per_account_at_address)]
    else:
        phone = security.throttle_key("phone", f"{username}\x00{phone_key}", pepper=pepper)
        keys = [(phone, limits.per_account_at_address)]
    if address:
        keys.append((security.throttle_key("address", address, pepper=pepper), limits.per_address))
    if phone_key is None:
        keys.append((security.throttle_key("account", username, pepper=pepper), limits.per_account))
    return keys


def _known_key(username: str, address: str | None, settings: Settings) -> str | None:
    """The key of "this account signed in at this address" (`security.SignInLimits.
    known_address`); ``None`` without an address."""
    address = _client_block(address)
    if not address:
        return None
    where = f"{username}\x00{address.strip().lower()}"
    return security.throttle_key(
        "account-known", where, pepper=settings.secret_key.get_secret_value()
    )


def _spare_known_address(
    session: Session,
    keys: list[tuple[str, int]],
    known: str | None,
    *,
    now: datetime,
    limits: security.SignInLimits,
) -> list[tuple[str, int]]:
    """``keys`` to check, without the account's backstop (the last key of three) when the
    account signed in at this address within ``limits.known_address``: failures from other
    addresses must not lock her out where she works (review s26)."""
    if known is None or len(keys) < 3:
        return keys
    row = session.get(SignInThrottle, known)
    if row is None or row.window_started_at + limits.known_address <= now:
        return keys
    return keys[:-1]


def _remember_address(session: Session, known: str | None, *, now: datetime) -> None:
    """Record a successful sign-in of the account at this address (one upsert, its moment in
    ``window_started_at``; not committed)."""
    if known is None:
        return
    table = cast(Table, SignInThrottle.__table__)
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(key=known, failures=0, window_started_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"window_started_at": statement.excluded.window_started_at},
        )
    )


def _check_throttle(
    session: Session,
    keys: list[tuple[str, int]],
    *,
    now: datetime,
    limits: security.SignInLimits,
) -> None:
    """429 when any key is at its limit within its window (the longest wait is given)."""
    rows = {
        r.key: r
        for r in session.scalars(
            select(SignInThrottle).where(SignInThrottle.key.in_([key for key, _cap in keys]))
        )
    }
    wait = 0
    for key, cap in keys:
        row = rows.get(key)
        if row is None or row.failures < cap:
            continue
        until = row.window_started_at + limits.window
        if until > now:
            wait = max(wait, security.retry_after_seconds(until, now))
    if wait:
        raise TooManyAttempts(wait)


def _take_places(
    session: Session,
    keys: list[tuple[str, int]],
    checked: list[tuple[str, int]],
    *,
    now: datetime,
    limits: security.SignInLimits,
) -> list[tuple[str, datetime]]:
    """Count this try as a failure on every key before its password is verified, one atomic
    upsert per key returning the new count (a window that has run out starts again at
    ``now``), committed at once; each key with the start of the window it was counted in.

    Checked and counted apart, the limits let through as many tries as arrived together:
    all passed the check before the first was counted, an argon2 verification later (review
    s26). Counted first, a try past the limit of a key of ``checked`` gives its places back
    and is refused (429 `TooManyAttempts`); no key counts a refused try.
    """
    table = cast(Table, SignInThrottle.__table__)
    moment_type = table.c.window_started_at.type
    expired = table.c.window_started_at <= literal(now - limits.window, moment_type)
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    caps = dict(checked)
    taken: list[tuple[str, datetime]] = []
    over = False
    for key, _cap in keys:
        statement = insert(table).values(key=key, failures=1, window_started_at=now)
        failures, started = session.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "failures": case((expired, 1), else_=table.c.failures + 1),
                    "window_started_at": case(
                        (expired, literal(now, moment_type)), else_=table.c.window_started_at
                    ),
                },
            ).returning(table.c.failures, table.c.window_started_at)
        ).one()
        taken.append((key, started))
        over = over or (key in caps and failures > caps[key])
    session.commit()
    if over:
        _give_back(session, taken)
        _check_throttle(session, checked, now=now, limits=limits)
        raise TooManyAttempts(1)  # its window ended meanwhile: try again
    return taken


def _give_back(session: Session, taken: list[tuple[str, datetime]]) -> None:
    """Undo `_take_places` for keys still in the window they were counted in (one atomic
    decrement each; a window started since is left alone). Committed at once."""
    table = cast(Table, SignInThrottle.__table__)
    for key, started in taken:
        session.execute(
            update(table)
            .where(
                table.c.key == key,
                table.c.window_started_at == started,
                table.c.failures > 0,
            )
            .values(failures=table.c.failures - 1)
        )
    session.commit()


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    totp_code: str | None,
    now: datetime,
    settings: Settings,
    address: str | None = None,
    limits: security.SignInLimits | None = None,
    key_thumbprint: str | None = None,
) -> tuple[User, bool]:
    """The user and whether a valid second factor was given.

    ``key_thumbprint``: the key a DPoP proof of this sign-in was verified with. When it is
    her registered, non-revoked phone's key, her failures count on a limit of that phone's
    own, not the account's: anyone can fail sign-ins for a known username, and without this
    ten wrong passwords from anywhere locked a nurse's own phone out all night (red team s17,
    finding 11). Without the phone's private key nobody can use that limit.

    Errors: 429 `TooManyAttempts` when the account at ``address`` (the client's), the
    address across accounts or the account across addresses has too many recent failures
    (`security.SignInLimits`; checked first, so a locked account is not probed even with the
    right password; the last not at an address where the account signed in within
    ``known_address``, which a success records); 401 on a wrong password, and on a wrong,
    expired or already used TOTP code. Each try is counted on every limit before its
    password is verified (`_take_places`), so tries sent together get no more than the
    limit; a success clears the account's count at the address and gives the rest back. A
    TOTP code is accepted once: the user's last used time step is kept, and only a later
    step is accepted (atomically, across processes).
    """
    limits = limits or security.SignInLimits()
    phone_key = key_thumbprint if _is_her_phone(session, username, key_thumbprint) else None
    keys = _throttle_keys(username, address, settings, limits, phone_key=phone_key)
    known = _known_key(username, address, settings) if phone_key is None else None
    checked = _spare_known_address(session, keys, known, now=now, limits=limits)
    _check_throttle(session, checked, now=now, limits=limits)  # a locked account: no place
    taken = _take_places(session, keys, checked, now=now, limits=limits)
    user = session.scalars(select(User).where(User.username == username)).first()
    ok = security.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        raise Unauthorised("unknown user or wrong password")  # counted in `_take_places`
    second = False
    if totp_code:
        secret = None
        if user.totp_secret:
            secret = totp_vault.unseal(
                user.totp_secret, user_id=user.id, keyring=_keyring(settings)
            )
        step = security.totp_step(secret, totp_code, now=now)
        if step is None or not _use_totp_step(session, user.id, step):
            raise Unauthorised("the one-time code is wrong, expired or already used")
        second = True
    # A success is no failure: the account's count here is cleared, the others' place given
    # back (clearing them would hand an attacker a fresh budget at each of her sign-ins).
    session.execute(delete(SignInThrottle).where(SignInThrottle.key == keys[0][0]))
    _remember_address(session, known, now=now)
    _give_back(session, taken[1:])
    _purge_throttle(session, now=now, limits=limits)
    return user, second


def _purge_throttle(session: Session, *, now: datetime, limits: security.SignInLimits) -> None:
    """Delete throttle rows that no longer count: failures whose window has ended (a try
    would start it again anyway, `_take_places`) and addresses not signed in from within
    ``limits.known_address`` (rows of no failures). Run at each success, so the table holds
    only the current window's failures and a month of known addresses, however many
    usernames and addresses were tried before (it grew without end). Committed.

    Only rows no other transaction holds are deleted (``SKIP LOCKED``; a held row goes at a
    later purge): a try counts its keys one by one in one transaction (`_take_places`),
    and a purge waiting for one of them while holding the next deadlocked with it, one of
    the two sign-ins answered 500 (review s27)."""
    table = cast(Table, SignInThrottle.__table__)
    moment_type = table.c.window_started_at.type
    ended = or_(
        and_(
            table.c.failures > 0,
            table.c.window_started_at <= literal(now - limits.window, moment_type),
        ),
        table.c.window_started_at
        <= literal(now - max(limits.window, limits.known_address), moment_type),
    )
    free = select(table.c.key).where(ended).with_for_update(skip_locked=True)
    session.execute(delete(table).where(table.c.key.in_(free), ended))
    session.commit()


def _is_her_phone(session: Session, username: str, key_thumbprint: str | None) -> bool:
    """Whether ``key_thumbprint`` is that of a registered, non-revoked phone of ``username``."""
    if key_thumbprint is None:
        return False
    keys = session.scalars(
        select(PhoneDevice.public_key)
        .join(User, User.id == PhoneDevice.user_id)
        .where(User.username == username, PhoneDevice.revoked_at.is_(None))
    ).all()
    return any(
        (registered := dpop.registered_key_thumbprint(key)) is not None
        and hmac.compare_digest(registered, key_thumbprint)
        for key in keys
    )


def _use_totp_step(session: Session, user_id: int, step: int) -> bool:
    """Record ``step`` as the user's last used one, if it is later than the last (one
    conditional UPDATE: of two sign-ins with the same code, exactly one wins)."""
    result = session.execute(
        update(User)
        .where(
            User.id == user_id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return getattr(result, "rowcount", 0) == 1


def enrol_totp(
    session: Session,
    *,
    username: str,
    password: str,
    new_password: str,
    now: datetime,
    settings: Settings,
    address: str | None = None,
    limits: security.SignInLimits | None = None,
) -> str:
    """A user's own TOTP enrolment at her first sign-in; the new secret, shown to her once.

    She proves her password (the one the admin gave her) and replaces it, so what the admin
    knew opens nothing afterwards; the secret is made here and sealed at once, never shown
    to or set by an admin. Only a user without a second factor enrols (409 otherwise: an
    enrolment someone else made is visible to her, as she can no longer enrol). Throttled
    and counted like a sign-in.
    """
    user, _second = authenticate(
        session,
        username=username,
        password=password,
        totp_code=None,
        now=now,
        settings=settings,
        address=address,
        limits=limits,
    )
    if user.totp_secret:
        raise Conflict(
            "a second factor is already enrolled for this login (ask the admin to reset it)"
        )
    if new_password == password:
        raise Unprocessable("new_password: choose a password other than the one you were given")
    secret = security.new_totp_secret()
    sealed = totp_vault.seal(secret, user_id=user.id, keyring=_keyring(settings))
    result = session.execute(
        update(User)
        .where(User.id == user.id, User.totp_secret.is_(None))
        .values(
            totp_secret=sealed,
            totp_last_step=None,
            password_hash=security.hash_password(new_password),
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        session.rollback()
        raise Conflict("a second factor is already enrolled for this login")
    session.commit()
    return secret


@dataclass(frozen=True)
class TokenCaller:
    """Who a token names, read in one query: the principal, her nurse row (nurses only),
    when one of her phones was last revoked (``None``: never), and the phone asked for by
    id (``None`` when not asked for or not registered; revoked or not, hers or not)."""

    principal: Principal
    nurse: Nurse | None
    latest_revocation: datetime | None
    device: PhoneDevice | None


def _token_caller_queries() -> tuple[Any, Any]:
    """`token_caller`'s two queries (without and with the phone the request names), built
    once with ``user_id`` and ``device_id`` as parameters: every signed-in request runs
    one, and building it and its cache key each time cost more than running it."""
    revoked = (
        select(func.max(PhoneDevice.revoked_at))
        .where(PhoneDevice.nurse_id == User.nurse_id)
        .correlate(User)
        .scalar_subquery()
    )
    query = select(User, Nurse, revoked).outerjoin(Nurse, Nurse.id == User.nurse_id)
    with_device = query.add_columns(PhoneDevice).outerjoin(
        PhoneDevice, PhoneDevice.id == bindparam("device_id")
    )
    user = User.id == bindparam("user_id")
    return query.where(user), with_device.where(user)


_CALLER, _CALLER_WITH_DEVICE = _token_caller_queries()


def token_caller(
    session: Session,
    token: str,
    *,
    settings: Settings,
    now: datetime,
    device_id: str | None = None,
) -> TokenCaller | None:
    """The signed-in user behind a token, if the token and the user are still valid, with
    what the phone API checks next (`TokenCaller`), in one round trip: the user, her nurse,
    her phones' latest revocation and the phone ``device_id`` names."""
    claims = security.decode_token(token, secret=settings.secret_key.get_secret_value(), now=now)
    if claims is None:
        return None
    asked = bool(device_id) and len(device_id or "") <= 36
    values: dict[str, Any] = {"user_id": claims.user_id}
    if asked:
        values["device_id"] = device_id
    row: Any = session.execute(_CALLER_WITH_DEVICE if asked else _CALLER, values).first()
    if row is None:
        return None
    user, nurse, latest = row[0], row[1], row[2]
    if not user.active or user.role != claims.role:
        return None
    if _issued_before(claims.issued_at, user.tokens_valid_after):
        return None
    principal = Principal(
        role=Role(user.role),
        actor=user.username,
        user_id=user.id,
        organisation_id=user.organisation_id,
        nurse_id=user.nurse_id,
        responsible_user_id=user.id,
        second_factor=claims.second_factor,
        token_issued_at=claims.issued_at,
        key_thumbprint=claims.key_thumbprint,
    )
    return TokenCaller(
        principal=principal,
        nurse=nurse,
        latest_revocation=latest,
        device=row[3] if asked else None,
    )


def _issued_before(issued_at: int | None, valid_after: datetime | None) -> bool:
    """Whether a token issued at ``issued_at`` (whole seconds since the epoch, as ``iat``)
    was issued at or before ``valid_after`` (`User.tokens_valid_after`). A token without
    ``iat`` predates every such moment. ``iat`` drops the fraction, so a token of the
    moment's own second counts as before it: no sign-in succeeds between a deactivation and
    the reactivation, so such a token was issued before the deactivation (at worst one made
    in the reactivation's second is refused, and she signs in again)."""
    if valid_after is None:
        return False
    return issued_at is None or issued_at <= valid_after.timestamp()


def principal_from_token(
    session: Session, token: str, *, settings: Settings, now: datetime
) -> Principal | None:
    """The signed-in user behind a token, if the token and the user are still valid."""
    found = token_caller(session, token, settings=settings, now=now)
    return found.principal if found is not None else None


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


def list_api_keys(session: Session, organisation_id: int) -> list[ApiKey]:
    """The organisation's keys, revoked ones included, oldest first (404: no such
    organisation)."""
    organisation = get_organisation(session, organisation_id)
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.organisation_id == organisation.id).order_by(ApiKey.id)
        )
    )


def list_users(session: Session) -> list[User]:
    """Every login, deactivated ones included, in the order they were made."""
    return list(session.scalars(select(User).order_by(User.id)))


def deactivate_user(session: Session, user_id: int, *, acting: Principal, now: datetime) -> User:
    """Stop ``user_id`` signing in; every token of hers is refused from now on, and those
    issued until now stay refused after a reactivation (`reactivate_user`). The change is
    written to the access log with who made it (`access_log.record_admin_action`).

    Errors: 404 when no such user; 422 for the acting admin herself (the team would lose its
    last admin)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if user.id == acting.user_id:
        raise Unprocessable(
            "an admin cannot deactivate her own login",
            extra={
                "errors": [{"field": "path.user_id", "message": "your own login", "code": "self"}]
            },
        )
    if user.active:
        user.active = False
        # Her tokens stay refused if the login is reactivated (`reactivate_user`).
        user.tokens_valid_after = now
        _log_login_change(session, acting, user, "deactivated", now=now)
        session.commit()
    return user


def reactivate_user(session: Session, user_id: int, *, acting: Principal, now: datetime) -> User:
    """Let a deactivated ``user_id`` sign in again; no token issued before her deactivation
    works again (`User.tokens_valid_after`: the one that leaked may be among them), she signs
    in anew. An active login is left as it is. The change is written to the access log with
    who made it, as a deactivation (`access_log.record_admin_action`).

    Errors: 404 when no such user; 409 for a nurse's login while another login of that nurse
    is active (one login per nurse, as `create_user` keeps: an admin may have made her a new
    one since).
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    if user.active:
        return user
    if user.nurse_id is not None and _has_active_login(session, user.nurse_id):
        raise Conflict("this nurse has another active login: deactivate that one first")
    user.active = True
    if user.tokens_valid_after is None:
        # Deactivated before revision 0017, which kept no moment: refuse every token so far.
        user.tokens_valid_after = now
    _log_login_change(session, acting, user, "reactivated", now=now)
    session.commit()
    return user


def _has_active_login(session: Session, nurse_id: int) -> bool:
    """Whether nurse ``nurse_id`` has an active login (one login per nurse)."""
    found = session.scalars(select(User.id).where(User.nurse_id == nurse_id, User.active))
    return found.first() is not None


def _log_login_change(
    session: Session, acting: Principal, user: User, verb: str, *, now: datetime
) -> None:
    """The access-log row of an admin's change to ``user``'s login (``verb``: deactivated,
    reactivated): which admin, when, the login's id and role only."""
    access_log.record_admin_action(
        session,
        acting,
        at=now,
        event=f"admin.user_{verb}",
        what=f"{verb} user {user.id} ({user.role})",
        organisation_id=user.organisation_id,
    )


def revoke_api_key(
    session: Session, organisation_id: int, key_id: int, *, acting: Principal, now: datetime
) -> ApiKey:
    """Revoke the organisation's key ``key_id`` from ``now`` on (404 when it is not one of
    that organisation's keys); revoking it again keeps the first moment. The revocation is
    written to the access log with who made it (`access_log.record_admin_action`)."""
    key = session.get(ApiKey, key_id)
    if key is None or key.organisation_id != organisation_id:
        raise NotFound("no such API key of this organisation")
    if key.revoked_at is None:
        key.revoked_at = now
        access_log.record_admin_action(
            session,
            acting,
            at=now,
            event="admin.api_key_revoked",
            what=f"revoked api key {key.id} ({key.role})",
            organisation_id=key.organisation_id,
        )
        session.commit()
    return key


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


def set_shift(
    session: Session,
    nurse_id: int,
    *,
    night_date: date,
    start: str,
    end: str,
    commit: bool = True,
) -> Shift:
    """Put a nurse on the night of ``night_date`` (replacing her earlier shift that night);
    ``commit=False`` leaves the commit to the caller (a re-plan recorded with it)."""
    get_nurse(session, nurse_id)
    shift = session.scalars(
        select(Shift).where(Shift.nurse_id == nurse_id, Shift.night_date == night_date)
    ).first()
    if shift is None:
        shift = Shift(nurse_id=nurse_id, night_date=night_date, start=start, end=end)
        session.add(shift)
    else:
        shift.start, shift.end = start, end
    if commit:
        session.commit()
    return shift


def _commit_unique(session: Session, message: str) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(message) from None
