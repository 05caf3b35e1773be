"""`nachtroute demo` and `nachtroute serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from api.cli import main
from api.cli.service_commands import DEMO_SECRETS_FILE, demo_secrets, demo_settings
from api.core import security
from api.core.config import PLACEHOLDER_SECRET
from api.main import create_app
from api.seed import DEMO_NURSE_TOTP_SECRET, DEMO_PASSWORD


def test_demo_no_serve_seeds_and_prints(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo seeds four organisations and three nurses, plans the night and prints logins."""
    monkeypatch.setenv("NACHTROUTE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NACHTROUTE_DATABASE_URL", raising=False)
    code = main(["demo", "--no-serve", "--visits", "12", "--port", "8123", "--network", "none"])
    out = capsys.readouterr().out
    assert code == 0
    assert "http://127.0.0.1:8123/docs" in out and "http://127.0.0.1:8123/planner" in out
    assert "12 visits planned" in out
    assert "partner4" in out and "nurse-n3" in out and "nrk_" in out
    assert f"nurses register a phone signed in with a TOTP code for {DEMO_NURSE_TOTP_SECRET}" in out
    assert (tmp_path / "demo.sqlite").exists()


def test_a_refused_demo_leaves_the_running_demos_database_as_it_was(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in ``--network`` or a port a demo is already serving on is refused (exit 2,
    naming the option) before anything is removed: the seeded database stays byte for byte
    (a newcomer's typo had deleted the running demo's database, which then answered 500)."""
    import hashlib
    import socket

    monkeypatch.setenv("NACHTROUTE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NACHTROUTE_DATABASE_URL", raising=False)
    assert main(["demo", "--no-serve", "--visits", "3", "--network", "none"]) == 0
    database = tmp_path / "demo.sqlite"
    seeded = hashlib.sha256(database.read_bytes()).hexdigest()
    capsys.readouterr()

    assert main(["demo", "--no-serve", "--network", "atlantis"]) == 2
    assert "--network" in capsys.readouterr().err
    assert hashlib.sha256(database.read_bytes()).hexdigest() == seeded

    with socket.socket() as running:  # a demo already serving on the port
        running.bind(("127.0.0.1", 0))
        running.listen()
        port = running.getsockname()[1]
        assert main(["demo", "--network", "none", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"--port {port}" in err and "nothing was changed" in err
    assert hashlib.sha256(database.read_bytes()).hexdigest() == seeded


def test_demo_runs_on_the_bundled_road_network(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default the demo imports the bundled Porto extract and plans on road travel times,
    with the OpenStreetMap attribution; an unknown network is one clear error."""
    monkeypatch.setenv("NACHTROUTE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NACHTROUTE_DATABASE_URL", raising=False)
    try:
        code = main(["demo", "--no-serve", "--visits", "8"])
        out = capsys.readouterr().out
        assert code == 0
        assert "road network 'porto-demo'" in out
        assert "OpenStreetMap contributors" in out
        assert main(["demo", "--no-serve", "--network", "atlantis"]) == 2
        assert "no network 'atlantis' imported" in capsys.readouterr().err
    finally:
        from api.travel import use_network

        use_network(None)  # other tests in this process expect estimates


def test_serve_refuses_placeholder_secret_in_production(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production settings with the placeholder secret: exit 2 with one message."""
    monkeypatch.setenv("NACHTROUTE_ENVIRONMENT", "production")
    monkeypatch.delenv("NACHTROUTE_SECRET_KEY", raising=False)
    assert main(["serve"]) == 2
    assert "NACHTROUTE_SECRET_KEY" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("environment", "given", "named"),
    [
        ("production", ["--forwarded-allow-ips", "*"], "--forwarded-allow-ips"),
        ("test", ["--forwarded-allow-ips", "10.0.0.2,*"], "--forwarded-allow-ips"),
        ("production", ["--forwarded-allow-ips", "proxy.internal"], "'proxy.internal'"),
        ("production", [], "FORWARDED_ALLOW_IPS"),
    ],
)
def test_serve_refuses_to_trust_every_callers_forwarded_address(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    environment: str,
    given: list[str],
    named: str,
) -> None:
    """'*' lets a caller write the address the sign-in limits count (a fresh count per
    forged address): refused outside development, from the option or the environment,
    with one message naming where it came from; so is an entry that is no address."""
    monkeypatch.setenv("NACHTROUTE_ENVIRONMENT", environment)
    monkeypatch.setenv("NACHTROUTE_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("NACHTROUTE_API_KEY_PEPPER", "p" * 40)
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    assert main(["serve", *given]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_migrates_on_start(tmp_path: Path) -> None:
    """`serve` on an empty SQLite URL migrates it and answers /health."""
    port = _free_port()
    env = {
        **os.environ,
        "NACHTROUTE_DATABASE_URL": f"sqlite+pysqlite:///{tmp_path / 'srv.sqlite'}",
        "NACHTROUTE_DATA_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120  # a cap for a loaded machine, not a speed check
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not come up"
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                time.sleep(0.2)
        assert response.json()["status"] == "ok"
        page = httpx.get(f"http://127.0.0.1:{port}/planner", timeout=2)
        assert 'data-testid="plan-version"' in page.text  # the planner's board is served
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def test_committed_openapi_is_current() -> None:
    """docs/openapi.json matches the app; regenerate with `nachtroute openapi --out ...`."""
    from api.cli.service_commands import openapi_text

    committed = Path(__file__).parents[2] / "docs" / "openapi.json"
    assert committed.read_text(encoding="utf-8") == openapi_text(), (
        "run: nachtroute openapi --out docs/openapi.json"
    )


def test_the_demo_signs_with_its_own_random_secret_and_refuses_the_placeholder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo makes its signing secret and pepper in its data folder on its first run
    (0600, kept on the next run, never printed): an admin token forged with the development
    placeholder in the source is refused by the demo's app; a sign-in's token works."""
    monkeypatch.setenv("NACHTROUTE_DATA_DIR", str(tmp_path))
    for name in ("DATABASE_URL", "SECRET_KEY", "API_KEY_PEPPER", "CLOCK"):
        monkeypatch.delenv(f"NACHTROUTE_{name}", raising=False)
    assert main(["demo", "--no-serve", "--visits", "3", "--network", "none"]) == 0
    printed = capsys.readouterr()
    made = tmp_path / DEMO_SECRETS_FILE
    assert made.stat().st_mode & 0o777 == 0o600
    secrets = demo_secrets(tmp_path)
    assert PLACEHOLDER_SECRET not in secrets.values()
    for value in secrets.values():
        assert value not in printed.out and value not in printed.err
    assert demo_secrets(tmp_path) == secrets  # kept: tokens survive a restart of the demo

    settings = demo_settings(tmp_path, None)
    assert settings.secret_key.get_secret_value() == secrets["secret_key"]
    with TestClient(create_app(settings)) as client:
        signed_in = client.post(
            "/auth/token", json={"username": "admin", "password": DEMO_PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        token = signed_in.json()["access_token"]
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["role"] == "admin"
        admin_id = int(jwt.decode(token, options={"verify_signature": False})["sub"])
        forged = security.issue_token(
            security.TokenClaims(admin_id, "admin", None, second_factor=True),
            secret=PLACEHOLDER_SECRET,
            minutes=15,
            now=datetime.now(UTC),
        )
        refused = client.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})
        assert refused.status_code == 401, refused.text
