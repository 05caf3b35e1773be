"""Key-safe (sleutelkluis) codes: encrypted at rest, rotated, and revealed only when allowed.

A code opens a vulnerable person's front door. Here it is a `KeySafeCode`, whose ``repr``,
``str`` and format show asterisks and which refuses to be pickled; nothing in this module
logs it or puts it in an error text. It is stored as an `EncryptedCode`: AES-256-GCM with a
random 96-bit nonce, the associated data binding the ciphertext to its client and key id, so
a record copied onto another client, or relabelled with another key id, fails to decrypt.

Keys live only in the environment (never in the database, never in the repository)::

    NACHTROUTE_KEYSAFE_KEYS="k2026a:<base64 32 bytes>,k2026b:<base64 32 bytes>"
    NACHTROUTE_KEYSAFE_ACTIVE_KEY="k2026b"

New codes are encrypted under the active key; older keys stay listed until `rotate` has
re-encrypted every record under the new one (``nachtroute keys rotate``).

Exceptions (all ``ValueError``)::

    KeySafeError
    ├── KeyringError     keys setting malformed, weak, or a key id not in the keyring
    ├── IntegrityError   a record was altered, or moved to another client or key id
    └── InvalidCodeError a code that is not 3..16 letters or digits (the code not echoed)
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol, final
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from mobile_contract.keysafe import KeySafeRefusal, KeySafeRevealResponse, RefusalReason

__all__ = [
    "ACTIVE_KEY_ENV",
    "ARRIVAL_NEAR_M",
    "FORGET_AFTER",
    "KEYS_ENV",
    "MAX_ACCURACY_CREDIT_M",
    "REVEAL_CLOSES_AFTER_END",
    "REVEAL_OPENS_BEFORE_ETA",
    "AccessLog",
    "AccessLogEntry",
    "Allowed",
    "Assignment",
    "CodeStore",
    "EncryptedCode",
    "IntegrityError",
    "InvalidCodeError",
    "KeySafeCode",
    "KeySafeError",
    "KeySafeStore",
    "Keyring",
    "KeyringError",
    "Refused",
    "RevealFacts",
    "decide_reveal",
    "decrypt",
    "distance_metres",
    "effective_visit_end",
    "encrypt",
    "generate_key",
    "handle_reveal",
    "rotate",
    "rotate_store",
]

logger = logging.getLogger(__name__)

KEYS_ENV: Final = "NACHTROUTE_KEYSAFE_KEYS"
ACTIVE_KEY_ENV: Final = "NACHTROUTE_KEYSAFE_ACTIVE_KEY"

#: A code is shown from this long before the nurse's ETA ...
REVEAL_OPENS_BEFORE_ETA: Final = timedelta(minutes=30)
#: ... until this long after the visit ends (to put the key back).
REVEAL_CLOSES_AFTER_END: Final = timedelta(minutes=15)
#: Where the team sets no distance rule, a recorded arrival opens the window this near.
ARRIVAL_NEAR_M: Final = 200.0
#: A recorded arrival opens the window at most this long before the ETA. The position is
#: the phone's word alone, so without a bound an "arrived" sent hours early opened the code
#: hours early; a nurse really at the door that early is ahead of a plan she cannot start yet
#: (planned care waits for its window; an acute call's ETA is close anyway).
ARRIVAL_OPENS_AT_MOST_BEFORE_ETA: Final = timedelta(minutes=60)
#: The phone forgets a revealed code after at most this long; asking again is logged again.
FORGET_AFTER: Final = timedelta(minutes=60)

_KEY_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
_NONCE_BYTES: Final = 12
_AAD_PREFIX: Final = b"nachtroute/keysafe/v1"
_MASK: Final = "****"


class KeySafeError(ValueError):
    """Base of this module's errors; its messages never hold a code or a key."""


class KeyringError(KeySafeError):
    """The keys setting is malformed or weak, or a key id is not in the keyring."""


class IntegrityError(KeySafeError):
    """A record failed authentication: altered, or bound to another client or key id."""


class InvalidCodeError(KeySafeError):
    """A code that is not 3 to 16 letters or digits (the message does not repeat it)."""


# --------------------------------------------------------------------------- the code


@final
class KeySafeCode:
    """A key-safe code that shows as ``****`` everywhere except through `reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not (3 <= len(value) <= 16 and value.isascii() and value.isalnum()):
            raise InvalidCodeError("a key-safe code is 3 to 16 letters or digits")
        self._value = value

    def reveal(self) -> str:
        """The code itself: call only to encrypt it or to put it in the reveal response."""
        return self._value

    def secret(self) -> SecretStr:
        """The code as the contract's `SecretStr` (for `KeySafeRevealResponse`)."""
        return SecretStr(self._value)

    def __repr__(self) -> str:
        return f"KeySafeCode('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeySafeCode):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    # Defining __eq__ leaves the class unhashable: codes do not become dict keys or cache keys.
    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a key-safe code cannot be pickled (no copies in caches or queues)")


# --------------------------------------------------------------------------- keys


@final
class Keyring:
    """AES-256 keys by key id, and the id new codes are encrypted under."""

    __slots__ = ("_active", "_keys")

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if not keys:
            raise KeyringError("no keys")
        for key_id, key in keys.items():
            if not _KEY_ID.match(key_id):
                raise KeyringError(f"key id {key_id!r}: use 1-32 letters, digits, '_.-'")
            if len(key) != 32:
                raise KeyringError(f"key {key_id!r}: must be 32 bytes (AES-256), not {len(key)}")
            if len(set(key)) < 8:
                raise KeyringError(
                    f"key {key_id!r}: not random (make one: nachtroute keys generate)"
                )
        if len(set(keys.values())) != len(keys):
            raise KeyringError("two key ids share the same key")
        if active not in keys:
            raise KeyringError(f"active key {active!r} is not in the keyring")
        self._keys = dict(keys)
        self._active = active

    @classmethod
    def parse(cls, text: str, active: str | None = None) -> Keyring:
        """A keyring from ``kid:base64key,kid:base64key``; one key needs no active id."""
        keys: dict[str, bytes] = {}
        for number, part in enumerate(filter(None, (p.strip() for p in text.split(","))), 1):
            key_id, colon, encoded = part.partition(":")
            if not colon:
                raise KeyringError(f"entry {number}: expected KEY_ID:BASE64_KEY")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise KeyringError(f"key {key_id.strip()!r}: not valid base64") from None
            if key_id.strip() in keys:
                raise KeyringError(f"key id {key_id.strip()!r} listed twice")
            keys[key_id.strip()] = key
        if active is None:
            if len(keys) != 1:
                raise KeyringError(f"{len(keys)} keys listed: name the active one")
            active = next(iter(keys))
        return cls(keys, active)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keyring:
        """The keyring of `KEYS_ENV` and `ACTIVE_KEY_ENV` (``os.environ`` unless given)."""
        env = os.environ if environ is None else environ
        text = env.get(KEYS_ENV, "")
        if not text.strip():
            raise KeyringError(f"{KEYS_ENV} is not set (make a key: nachtroute keys generate)")
        return cls.parse(text, env.get(ACTIVE_KEY_ENV) or None)

    @property
    def active_id(self) -> str:
        """The key id new codes are encrypted under."""
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id in the keyring."""
        return tuple(self._keys)

    def with_active(self, key_id: str) -> Keyring:
        """The same keys with ``key_id`` active."""
        return Keyring(self._keys, key_id)

    def cipher(self, key_id: str) -> AESGCM:
        """The AES-GCM cipher of ``key_id``."""
        try:
            return AESGCM(self._keys[key_id])
        except KeyError:
            raise KeyringError(f"key id {key_id!r} is not in the keyring") from None

    def __repr__(self) -> str:
        return f"Keyring(key_ids={list(self._keys)!r}, active={self._active!r})"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a keyring cannot be pickled")


def generate_key(key_id: str) -> str:
    """A new ``KEY_ID:BASE64`` entry for `KEYS_ENV`: 32 random bytes from the OS."""
    if not _KEY_ID.match(key_id):
        raise KeyringError(f"key id {key_id!r}: use 1-32 letters, digits, '_.-'")
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class EncryptedCode:
    """A code at rest: AES-256-GCM ciphertext (with its tag) under ``key_id``, for a client."""

    client_id: str
    key_id: str
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)


def _aad(client_id: str, key_id: str) -> bytes:
    # NUL-separated so ("ab", "c") and ("a", "bc") cannot produce the same bytes.
    return b"\x00".join((_AAD_PREFIX, client_id.encode(), key_id.encode()))


def encrypt(
    code: KeySafeCode,
    client_id: str,
    keyring: Keyring,
    *,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> EncryptedCode:
    """``code`` encrypted for ``client_id`` under the keyring's active key, with a fresh nonce."""
    if not client_id:
        raise KeySafeError("client_id is empty")
    key_id = keyring.active_id
    nonce = random_bytes(_NONCE_BYTES)
    if len(nonce) != _NONCE_BYTES:
        raise KeySafeError("the nonce source gave the wrong number of bytes")
    ciphertext = keyring.cipher(key_id).encrypt(
        nonce, code.reveal().encode(), _aad(client_id, key_id)
    )
    return EncryptedCode(client_id=client_id, key_id=key_id, nonce=nonce, ciphertext=ciphertext)


def decrypt(record: EncryptedCode, keyring: Keyring) -> KeySafeCode:
    """The code of ``record``; `IntegrityError` if it was altered or moved."""
    try:
        plain = keyring.cipher(record.key_id).decrypt(
            record.nonce, record.ciphertext, _aad(record.client_id, record.key_id)
        )
    except (InvalidTag, ValueError) as error:
        if isinstance(error, KeyringError):
            raise
        raise IntegrityError(
            f"key-safe record of client {record.client_id!r} (key {record.key_id!r}) failed "
            "its integrity check: altered, or bound to another client or key"
        ) from None
    try:
        return KeySafeCode(plain.decode("ascii"))
    except (UnicodeDecodeError, InvalidCodeError):
        raise IntegrityError(
            f"key-safe record of client {record.client_id!r} does not hold a valid code"
        ) from None


def rotate(
    records: Iterable[EncryptedCode],
    keyring: Keyring,
    new_key_id: str,
    *,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> list[EncryptedCode]:
    """Every record re-encrypted under ``new_key_id`` with a fresh nonce.

    All-or-nothing: if one record fails to decrypt, `IntegrityError` is raised and nothing is
    returned, so a store never holds a half-rotated set because of a bad record.
    """
    target = keyring.with_active(new_key_id)
    return [
        encrypt(decrypt(r, keyring), r.client_id, target, random_bytes=random_bytes)
        for r in records
    ]


class KeySafeStore(Protocol):
    """Where encrypted codes live (the API engineer's repository implements this)."""

    def all_records(self) -> Sequence[EncryptedCode]:
        """Every stored record."""
        ...

    def replace_all(self, records: Sequence[EncryptedCode]) -> None:
        """Replace each record (matched by ``client_id``) in one transaction."""
        ...


def rotate_store(store: KeySafeStore, keyring: Keyring, new_key_id: str) -> int:
    """Re-encrypt every record of ``store`` under ``new_key_id``; the number of records."""
    rotated = rotate(store.all_records(), keyring, new_key_id)
    store.replace_all(rotated)
    logger.info("key-safe records re-encrypted under key %s: %d", new_key_id, len(rotated))
    return len(rotated)


# --------------------------------------------------------------------------- reveal rules


@dataclass(frozen=True, slots=True)
class Assignment:
    """Tonight's visit as the reveal rules need it: who is on it, and whether a key safe is."""

    visit_id: str
    client_id: str
    nurse_ids: frozenset[str]
    key_safe_present: bool


@dataclass(frozen=True, slots=True)
class Allowed:
    """The code may be shown, until ``closes_at``."""

    opens_at: datetime
    closes_at: datetime


@dataclass(frozen=True, slots=True)
class Refused:
    """The code may not be shown, and why; ``retry_after`` for a request that came too early."""

    reason: RefusalReason
    message: str
    retry_after: datetime | None = None


def effective_visit_end(
    *,
    planned_end: datetime,
    started: bool,
    completed_at: datetime | None,
    now: datetime,
) -> datetime:
    """When the visit ends for the reveal window.

    Completed: when it was completed. Under way: not before ``now`` (an overrunning visit
    keeps its code available for putting the key back). Otherwise: its planned end.
    """
    if completed_at is not None:
        return completed_at
    if started:
        return max(planned_end, now)
    return planned_end


def decide_reveal(
    *,
    now: datetime,
    nurse_id: str,
    device_id: str,
    assignment: Assignment | None,
    eta: datetime,
    visit_end: datetime,
    registered_device: str | None,
    revoked: bool,
    distance_m: float | None,
    max_distance_m: float | None,
    night_end: datetime | None = None,
    arrived_at: datetime | None = None,
) -> Allowed | Refused:
    """Whether ``nurse_id`` on ``device_id`` may see the visit's code at ``now``.

    Units: datetimes timezone-aware, distances metres. In this order: the device must be
    the nurse's registered, non-revoked device; she must be assigned to the visit tonight;
    the visit must have a key safe; ``now`` must lie in the window (both ends included);
    and where ``max_distance_m`` is set, she must report a position within it of the address.

    The window opens 30 minutes before ``eta`` (the published plan's, see
    `api.services.phone.reveal_facts`), or at ``arrived_at``, her recorded arrival, when she
    reports a position within ``max_distance_m`` (else `ARRIVAL_NEAR_M`) of the address, but
    never more than `ARRIVAL_OPENS_AT_MOST_BEFORE_ETA` (60 minutes) before ``eta``. It
    closes 15 minutes after ``visit_end``, or after that recorded arrival at the door when
    it is later (a nurse held up before), and never later than 15 minutes after
    ``night_end``, whatever the phone reported.
    """
    if revoked:
        return Refused(RefusalReason.DEVICE_REVOKED, "this phone has been revoked")
    if registered_device is None or not hmac.compare_digest(
        registered_device.encode(), device_id.encode()
    ):
        return Refused(RefusalReason.DEVICE_NOT_REGISTERED, "this is not your registered phone")
    if assignment is None or nurse_id not in assignment.nurse_ids:
        return Refused(RefusalReason.NOT_ASSIGNED, "you are not assigned to this visit tonight")
    if not assignment.key_safe_present:
        return Refused(RefusalReason.NO_KEY_SAFE, "this address has no key safe on file")
    opens_at = eta - REVEAL_OPENS_BEFORE_ETA
    near = max_distance_m if max_distance_m is not None else ARRIVAL_NEAR_M
    end = visit_end
    if arrived_at is not None and distance_m is not None and distance_m <= near:
        opens_at = min(opens_at, max(arrived_at, eta - ARRIVAL_OPENS_AT_MOST_BEFORE_ETA))
        # At the door after the planned end (held up before, no delay reported): the
        # window runs 15 minutes from her arrival, as it would from the end (S25-03).
        end = max(end, arrived_at)
    if night_end is not None:
        end = min(end, night_end)
    closes_at = end + REVEAL_CLOSES_AFTER_END
    if now < opens_at:
        return Refused(
            RefusalReason.TOO_EARLY,
            "the code is available from 30 minutes before your ETA",
            retry_after=opens_at,
        )
    if now > closes_at:
        return Refused(
            RefusalReason.TOO_LATE, "the code was available until 15 minutes after the visit"
        )
    if max_distance_m is not None:
        if distance_m is None:
            return Refused(RefusalReason.POSITION_REQUIRED, "share your position to see the code")
        if not distance_m <= max_distance_m:
            return Refused(
                RefusalReason.TOO_FAR,
                f"you are {round(distance_m)} m from the address; the code is shown within "
                f"{round(max_distance_m)} m",
            )
    return Allowed(opens_at=opens_at, closes_at=closes_at)


_EARTH_RADIUS_M: Final = 6_371_008.8
#: At most this much of the phone's reported accuracy is credited towards the distance rule.
MAX_ACCURACY_CREDIT_M: Final = 100.0


def distance_metres(
    position: tuple[float, float],
    address: tuple[float, float],
    *,
    accuracy_metres: float | None = None,
) -> float:
    """Units: ``[lon, lat]`` degrees in, metres out. Great-circle distance from the phone's
    position to the address, less its reported accuracy (credited up to 100 m), never below 0.
    """
    lon1, lat1 = map(math.radians, position)
    lon2, lat2 = map(math.radians, address)
    a = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    metres = 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
    credit = min(max(accuracy_metres or 0.0, 0.0), MAX_ACCURACY_CREDIT_M)
    return max(0.0, metres - credit)


# --------------------------------------------------------------------------- the reveal call


@dataclass(frozen=True, slots=True)
class AccessLogEntry:
    """One NEN 7513 access-log line of a reveal attempt. It has no field for the code.

    Who (``nurse_id``, ``device_id``), when (``at``, UTC), whose data (``client_id``,
    ``visit_id``), what (``action``), the outcome and its reason, and the distance rounded
    to whole metres (the position itself is not kept).
    """

    reveal_id: UUID
    at: datetime
    nurse_id: str
    device_id: str
    visit_id: str
    client_id: str | None
    action: Literal["keysafe.reveal"]
    outcome: Literal["revealed", "refused", "failed"]
    reason: str | None
    distance_m: int | None
    key_id: str | None


class AccessLog(Protocol):
    """The NEN 7513 access log (append-only; the API engineer's repository implements it)."""

    def write(self, entry: AccessLogEntry) -> None:
        """Append ``entry``; raise if it cannot be stored (then no code is shown)."""
        ...


class CodeStore(Protocol):
    """Looks up a client's encrypted code."""

    def record_for(self, client_id: str) -> EncryptedCode | None:
        """The client's record, or None when no code is on file."""
        ...


@dataclass(frozen=True, slots=True)
class RevealFacts:
    """What the API gathers from the database for one reveal request (no code in it)."""

    assignment: Assignment | None
    eta: datetime
    visit_end: datetime
    registered_device: str | None
    revoked: bool
    distance_m: float | None
    #: The night's end: the window never closes later than 15 minutes after it.
    night_end: datetime | None = None
    #: Her recorded arrival at the address (at the latest when the server received it).
    arrived_at: datetime | None = None


def handle_reveal(
    *,
    reveal_id: UUID,
    now: datetime,
    nurse_id: str,
    device_id: str,
    visit_id: str,
    facts: RevealFacts,
    max_distance_m: float | None,
    codes: CodeStore,
    keyring: Keyring,
    access_log: AccessLog,
) -> KeySafeRevealResponse | KeySafeRefusal:
    """Decide, log, and answer one reveal request: the response (200) or the refusal (403).

    The code is returned only after its access-log entry is written, so a log that cannot
    be written means no code is shown. A record that fails its integrity check is logged as
    ``failed`` and raises `IntegrityError` (a 500 for the caller; never a wrong code at a
    door).
    """
    decision = decide_reveal(
        now=now,
        nurse_id=nurse_id,
        device_id=device_id,
        assignment=facts.assignment,
        eta=facts.eta,
        visit_end=facts.visit_end,
        registered_device=facts.registered_device,
        revoked=facts.revoked,
        distance_m=facts.distance_m,
        max_distance_m=max_distance_m,
        night_end=facts.night_end,
        arrived_at=facts.arrived_at,
    )
    record = None
    if isinstance(decision, Allowed) and facts.assignment is not None:
        record = codes.record_for(facts.assignment.client_id)
        if record is None:
            decision = Refused(RefusalReason.NO_KEY_SAFE, "no key-safe code is on file")

    def log(outcome: Literal["revealed", "refused", "failed"], reason: str | None) -> None:
        access_log.write(
            AccessLogEntry(
                reveal_id=reveal_id,
                at=now,
                nurse_id=nurse_id,
                device_id=device_id,
                visit_id=visit_id,
                client_id=facts.assignment.client_id if facts.assignment else None,
                action="keysafe.reveal",
                outcome=outcome,
                reason=reason,
                distance_m=None if facts.distance_m is None else round(facts.distance_m),
                key_id=record.key_id if record is not None else None,
            )
        )

    if isinstance(decision, Refused):
        log("refused", decision.reason.value)
        return KeySafeRefusal(
            visit_id=visit_id,
            reveal_id=reveal_id,
            reason=decision.reason,
            message=decision.message,
            retry_after=decision.retry_after,
        )
    assert record is not None
    try:
        code = decrypt(record, keyring)
    except KeySafeError as error:
        log("failed", error.__class__.__name__)
        raise
    log("revealed", None)
    return KeySafeRevealResponse(
        visit_id=visit_id,
        reveal_id=reveal_id,
        code=code.secret(),
        forget_at=min(decision.closes_at, now + FORGET_AFTER),
    )
