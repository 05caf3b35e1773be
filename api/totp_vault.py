"""TOTP secrets at rest: AES-256-GCM under the key-safe keyring (`api.keysafe.Keyring`).

A stored secret is ``aesgcm1:<key_id>:<base64(nonce || ciphertext+tag)>``, bound to its user
by the associated data ``nachtroute/totp/v1 NUL user_id NUL key_id``: a value copied onto
another user or relabelled with another key fails to open. A value without the prefix is a
secret stored before migration 0004 and is read as it is. Nothing here logs a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os

from cryptography.exceptions import InvalidTag

from api.core.config import Settings
from api.keysafe import KEYS_ENV, Keyring, KeyringError

__all__ = ["PREFIX", "is_sealed", "keyring_for", "seal", "unseal"]

logger = logging.getLogger("nachtroute.totp")

PREFIX = "aesgcm1"
_AAD = b"nachtroute/totp/v1"
_NONCE_BYTES = 12
_warned_development_key = False


def keyring_for(settings: Settings) -> Keyring:
    """The service's keyring: ``settings.keysafe_keys`` (`KEYS_ENV`), else (outside
    production) a development key derived from the secret key; `KeyringError` in
    production without keys."""
    keys = settings.keysafe_keys.get_secret_value() if settings.keysafe_keys else ""
    if keys.strip():
        return Keyring.parse(keys, settings.keysafe_active_key or None)
    if settings.environment == "production":
        raise KeyringError(f"set {KEYS_ENV} (make a key: nachtroute keys generate)")
    secret = settings.secret_key.get_secret_value().encode()
    key = hashlib.sha256(b"nachtroute/keysafe/development\x00" + secret).digest()
    global _warned_development_key  # once per process, not once per sign-in or seeded user
    if not _warned_development_key:
        _warned_development_key = True
        logger.warning("secrets use a development key: set %s", KEYS_ENV)
    return Keyring({"dev": key}, "dev")


def _aad(user_id: int, key_id: str) -> bytes:
    return b"\x00".join((_AAD, str(user_id).encode(), key_id.encode()))


def is_sealed(stored: str | None) -> bool:
    """Whether ``stored`` is an encrypted secret (not a plaintext one from before 0004)."""
    return bool(stored) and str(stored).startswith(PREFIX + ":")


def seal(secret: str, *, user_id: int, keyring: Keyring) -> str:
    """``secret`` encrypted for ``user_id`` under the keyring's active key."""
    key_id = keyring.active_id
    nonce = os.urandom(_NONCE_BYTES)
    sealed = keyring.cipher(key_id).encrypt(nonce, secret.encode(), _aad(user_id, key_id))
    return f"{PREFIX}:{key_id}:{base64.b64encode(nonce + sealed).decode()}"


def unseal(stored: str | None, *, user_id: int, keyring: Keyring) -> str | None:
    """The secret of ``stored``; ``None`` when there is none or it does not open (fails
    closed: no second factor)."""
    if not stored:
        return None
    if not is_sealed(stored):
        return stored
    _prefix, key_id, encoded = stored.split(":", 2)
    try:
        blob = base64.b64decode(encoded, validate=True)
        plain = keyring.cipher(key_id).decrypt(
            blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(user_id, key_id)
        )
        return plain.decode("ascii")
    except (InvalidTag, KeyringError, ValueError, binascii.Error, UnicodeDecodeError):
        logger.warning("the TOTP secret of user %s does not open (key %s)", user_id, key_id)
        return None
