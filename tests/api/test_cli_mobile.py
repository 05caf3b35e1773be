"""`nachtroute mobile openapi` and `nachtroute keys generate|rotate`."""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from api.cli import main, mobile_commands
from api.keysafe import EncryptedCode, Keyring, KeySafeCode, decrypt, encrypt
from mobile_contract.openapi import OPENAPI_PATH


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_openapi_check_passes_on_the_committed_file(capsys: pytest.CaptureFixture[str]) -> None:
    """The committed contract is current and v1-compatible."""
    code, _, err = _run(capsys, "mobile", "openapi", "--check")
    assert code == 0, err
    assert "up to date" in err


def test_openapi_check_fails_on_drift(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An edited copy of the file: --check exits 1 and says how to fix it."""
    stale = tmp_path / "openapi.json"
    stale.write_text(OPENAPI_PATH.read_text().replace("Voorbeeldstraat", "Elders"))
    code, _, err = _run(capsys, "mobile", "openapi", "--check", "--out", str(stale))
    assert code == 1
    assert "run `nachtroute mobile openapi`" in err


def test_openapi_check_fails_on_a_breaking_change(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A baseline with a field the code no longer has: --check names it."""
    baseline = json.loads(OPENAPI_PATH.read_text())
    baseline["components"]["schemas"]["Leg"]["properties"]["surface"] = {"type": "string"}
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline))
    code, _, err = _run(capsys, "mobile", "openapi", "--check", "--baseline", str(path))
    assert code == 1
    assert "'surface' removed or renamed" in err


def test_openapi_writes_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Without --check the document is written where --out says."""
    out = tmp_path / "openapi.json"
    code, _, _ = _run(capsys, "mobile", "openapi", "--out", str(out))
    assert code == 0
    assert out.read_text() == OPENAPI_PATH.read_text()


def test_keys_generate_prints_only_the_entry(capsys: pytest.CaptureFixture[str]) -> None:
    """stdout holds exactly one usable KEY_ID:BASE64 line; the hint goes to stderr."""
    code, out, err = _run(capsys, "keys", "generate", "k2027")
    assert code == 0
    assert Keyring.parse(out.strip()).active_id == "k2027"
    assert out.strip() not in err


def test_keys_generate_bad_id(capsys: pytest.CaptureFixture[str]) -> None:
    """A key id with a space: exit 2 and why."""
    code, _, err = _run(capsys, "keys", "generate", "bad id")
    assert code == 2 and "key id" in err


def test_keys_rotate_without_keys_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's store is wired in; without keys, rotate explains itself (exit 2)."""
    monkeypatch.delenv("NACHTROUTE_KEYSAFE_KEYS", raising=False)
    code, _, err = _run(capsys, "keys", "rotate", "--to", "k2")
    assert code == 2 and "NACHTROUTE_KEYSAFE_KEYS" in err


def test_keys_rotate_with_a_store(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a store wired in, every record ends up under the new key; no code printed."""
    keys = {"k1": bytes(range(32)), "k2": bytes(range(32, 64))}
    monkeypatch.setenv(
        "NACHTROUTE_KEYSAFE_KEYS",
        ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in keys.items()),
    )
    monkeypatch.setenv("NACHTROUTE_KEYSAFE_ACTIVE_KEY", "k1")
    keyring = Keyring(keys, "k1")

    class Store:
        def __init__(self) -> None:
            self.records = [
                encrypt(KeySafeCode(f"FAKE000{i}"), f"C-TEST-{i}", keyring) for i in range(3)
            ]

        def all_records(self) -> Sequence[EncryptedCode]:
            return self.records

        def replace_all(self, records: Sequence[EncryptedCode]) -> None:
            self.records = list(records)

    store = Store()
    parser = argparse.ArgumentParser()
    mobile_commands.register(parser.add_subparsers(), keysafe_store=lambda: store)
    args = parser.parse_args(["keys", "rotate", "--to", "k2"])
    assert args.handler(args) == 0
    out, err = capsys.readouterr()
    assert "3 key-safe codes" in out
    assert "FAKE" not in out + err
    assert {r.key_id for r in store.records} == {"k2"}
    assert decrypt(store.records[1], keyring).reveal() == "FAKE0001"
