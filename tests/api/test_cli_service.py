"""`nachtroute demo` and `nachtroute serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.cli import main
from api.seed import DEMO_NURSE_TOTP_SECRET


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
        deadline = time.monotonic() + 30
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
        assert "Night plan" in page.text
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
