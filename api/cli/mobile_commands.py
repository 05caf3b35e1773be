"""`nachtroute` subcommands of the phone API: `mobile openapi`, `keys generate`, `keys rotate`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.cli._errors import UserInputError, describe
from api.keysafe import Keyring, KeySafeError, KeySafeStore, generate_key, rotate_store
from mobile_contract.openapi import (
    ACCEPTED_BREAKS,
    BASELINE_PATH,
    OPENAPI_PATH,
    breaking_changes,
    build_openapi,
    dumps,
    load,
    unaccepted_breaks,
)

__all__ = ["register"]

#: Opens the key-safe store of the service's database; the service wires it in.
StoreFactory = Callable[[], KeySafeStore]


def register(
    subcommands: argparse._SubParsersAction[Any], *, keysafe_store: StoreFactory | None = None
) -> None:
    """Add `mobile ...` and `keys ...`; `keys rotate` needs ``keysafe_store`` to run."""
    mobile = subcommands.add_parser("mobile", help="the phone API's contract (/mobile/v1)")
    mobile_commands = mobile.add_subparsers(dest="mobile_command", metavar="COMMAND")
    mobile_commands.required = True
    p = mobile_commands.add_parser(
        "openapi", help="write mobile_contract/openapi.json from the models"
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the file drifted from the code or a change breaks v1",
    )
    p.add_argument("--out", type=Path, default=OPENAPI_PATH, metavar="OPENAPI.json")
    p.add_argument("--baseline", type=Path, default=BASELINE_PATH, metavar="V1_BASELINE.json")
    p.set_defaults(handler=_openapi)

    keys = subcommands.add_parser("keys", help="key-safe (sleutelkluis) encryption keys")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="COMMAND")
    key_commands.required = True
    p = key_commands.add_parser(
        "generate", help="print a new random key entry for NACHTROUTE_KEYSAFE_KEYS"
    )
    p.add_argument("key_id", help="a name for the key, e.g. k2026b")
    p.set_defaults(handler=_generate)

    p = key_commands.add_parser(
        "rotate", help="re-encrypt every key-safe code under another key of the keyring"
    )
    p.add_argument("--to", dest="key_id", required=True, metavar="KEY_ID")
    p.set_defaults(handler=lambda args: _rotate(args, keysafe_store))


def _openapi(args: argparse.Namespace) -> int:
    document = build_openapi()
    text = dumps(document)
    if not args.check:
        args.out.write_text(text, encoding="utf-8")
        print(f"nachtroute: wrote {args.out}", file=sys.stderr)
        return 0
    failed = False
    try:
        committed = args.out.read_text(encoding="utf-8")
    except OSError:
        committed = None
    if committed != text:
        print(
            f"nachtroute: {args.out} differs from the models; run `nachtroute mobile openapi`",
            file=sys.stderr,
        )
        failed = True
    try:
        baseline = load(args.baseline)
    except (OSError, ValueError) as error:
        raise UserInputError(f"{args.baseline}: cannot read the v1 baseline ({error})") from None
    for problem in breaking_changes(baseline, document):
        if problem in ACCEPTED_BREAKS:
            print(
                f"nachtroute: v1 phones must change (accepted): {problem}: "
                f"{ACCEPTED_BREAKS[problem]}",
                file=sys.stderr,
            )
    problems = unaccepted_breaks(baseline, document)
    for problem in problems:
        print(f"nachtroute: breaks v1 phones: {problem}", file=sys.stderr)
    if problems or failed:
        return 1
    print(
        "nachtroute: mobile contract up to date and compatible with v1 apart from the "
        f"{len(ACCEPTED_BREAKS)} accepted breaks above",
        file=sys.stderr,
    )
    return 0


def _generate(args: argparse.Namespace) -> int:
    try:
        entry = generate_key(args.key_id)
    except KeySafeError as error:
        raise UserInputError(str(error)) from None
    # The key goes to stdout only: into the secret store, never into a log or a file of ours.
    print(entry)
    print(
        "nachtroute: add this entry to NACHTROUTE_KEYSAFE_KEYS, set "
        f"NACHTROUTE_KEYSAFE_ACTIVE_KEY={args.key_id}, then run "
        f"`nachtroute keys rotate --to {args.key_id}`; keep the old key until it has run",
        file=sys.stderr,
    )
    return 0


def _rotate(args: argparse.Namespace, keysafe_store: StoreFactory | None) -> int:
    if keysafe_store is None:
        raise UserInputError("keys rotate: no key-safe store is wired in (needs the service)")
    try:
        keyring = _configured_keyring()
        store = keysafe_store()
        # The same keyring seals users' TOTP secrets: they move with the codes.
        reseal = getattr(store, "reseal_totp_secrets", None)
        totp = reseal(keyring.with_active(args.key_id)) if reseal is not None else None
        count = rotate_store(store, keyring, args.key_id)
    except KeySafeError as error:
        raise UserInputError(f"keys rotate: {error}") from None
    print(f"nachtroute: {count} key-safe codes now encrypted under key {args.key_id}")
    if totp is not None:
        print(f"nachtroute: {totp[0]} TOTP secrets now sealed under key {args.key_id}")
        if totp[1]:
            print(
                f"nachtroute: {totp[1]} TOTP secrets are under a key not in the keyring "
                "(left as they are; those users need a new TOTP secret)",
                file=sys.stderr,
            )
    return 0


def _configured_keyring() -> Keyring:
    """The keyring of the service's settings (``NACHTROUTE_KEYSAFE_KEYS``); no fallback."""
    from pydantic import ValidationError

    from api.core.config import Settings
    from api.keysafe import KEYS_ENV, KeyringError

    try:
        settings = Settings()
    except ValidationError as error:
        raise UserInputError(f"settings (NACHTROUTE_* / .env):\n  {describe(error)}") from None
    if settings.keysafe_keys is None or not settings.keysafe_keys.get_secret_value().strip():
        raise KeyringError(f"{KEYS_ENV} is not set (make a key: nachtroute keys generate)")
    return Keyring.parse(settings.keysafe_keys.get_secret_value(), settings.keysafe_active_key)
