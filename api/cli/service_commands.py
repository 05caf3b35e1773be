"""`nachtroute` subcommands of the service: serve, demo."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from api.cli._errors import UserInputError, check_database, describe

__all__ = ["register"]


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    """Add the service's subcommands."""
    p = subcommands.add_parser(
        "serve",
        help=(
            "run the API (database from NACHTROUTE_DATABASE_URL; NACHTROUTE_CLOCK and "
            "NACHTROUTE_CLOCK_SPEED set a simulated clock outside production)"
        ),
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8000)
    p.add_argument(
        "--forwarded-allow-ips",
        metavar="ADDRESSES",
        default=None,
        help=(
            "the reverse proxy's addresses or networks, comma-separated, whose "
            "X-Forwarded-For names the caller (default: FORWARDED_ALLOW_IPS, else "
            "loopback); sign-in limits count per caller address (docs/service.md). '*' is "
            "refused outside development: the leftmost address is then the caller's own "
            "writing"
        ),
    )
    p.set_defaults(handler=_serve)

    p = subcommands.add_parser(
        "demo", help="a seeded demo region (fictional) and the service, on a local SQLite file"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8000)
    p.add_argument(
        "--no-serve", action="store_true", help="seed, print the logins and exit (no server)"
    )
    p.add_argument("--visits", type=int, default=45, help="planned visits tonight (default 45)")
    p.add_argument(
        "--network",
        default="porto-demo",
        help=(
            "road network for travel times; the default imports the bundled Porto extract "
            "on first use; 'none' for straight-line estimates"
        ),
    )
    p.set_defaults(handler=_demo)

    p = subcommands.add_parser("openapi", help="print (or write) the service's OpenAPI document")
    p.add_argument("--out", type=Path, metavar="FILE", help="e.g. docs/openapi.json")
    p.set_defaults(handler=_openapi)


def openapi_text() -> str:
    """The OpenAPI document as committed in docs/openapi.json (stable, sorted keys)."""
    import json

    from api.main import create_app

    return json.dumps(create_app(_settings()).openapi(), indent=2, sort_keys=True) + "\n"


def _openapi(args: argparse.Namespace) -> int:
    text = openapi_text()
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UserInputError(f"{args.out}: cannot write ({error.strerror})") from None
    return 0


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return int(text)


def _settings(**overrides: Any) -> Any:
    from api.core.config import Settings

    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise UserInputError(f"settings (NACHTROUTE_* / .env):\n  {describe(error)}") from None


def _refuse_public_placeholder(settings: Any, host: str) -> None:
    """The development placeholder secret is in the source: anyone who can reach the
    server could sign an admin's token with it. Beyond this machine it is refused."""
    import ipaddress

    from api.core.config import PLACEHOLDER_SECRET

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return
    for name in ("secret_key", "api_key_pepper"):
        if getattr(settings, name).get_secret_value() == PLACEHOLDER_SECRET:
            raise UserInputError(
                f"NACHTROUTE_{name.upper()}: the development placeholder is public; set a "
                f"random secret of 32+ characters to serve on {host}"
            )


#: The demo's own secrets, made on its first run in its data folder (mode 0600).
DEMO_SECRETS_FILE = "demo-secrets.json"


def demo_secrets(data_dir: Path) -> dict[str, str]:
    """The demo's signing secret and pepper: read from ``data_dir/demo-secrets.json``, made
    there with 32 random bytes each on the first run (created 0600, never overwritten), so
    a demo never signs tokens with the placeholder in the source. Keys: ``secret_key``,
    ``api_key_pepper``."""
    import json
    import os
    import secrets

    path = data_dir / DEMO_SECRETS_FILE
    wanted = ("secret_key", "api_key_pepper")
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(found, dict) and all(
            isinstance(found.get(name), str) and len(found[name]) >= 32 for name in wanted
        ):
            return {name: found[name] for name in wanted}
        raise UserInputError(f"{path}: not the demo's secrets file (remove it to make a new one)")
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as error:
        raise UserInputError(f"{path}: cannot read the demo's secrets ({error})") from None
    made = {name: secrets.token_urlsafe(32) for name in wanted}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(made, file)
    return made


def demo_settings(data_dir: Path, network: str | None) -> Any:
    """The demo's settings: its SQLite file in ``data_dir``, development, and its own random
    secrets (`demo_secrets`) unless NACHTROUTE_SECRET_KEY / NACHTROUTE_API_KEY_PEPPER set
    others."""
    from api.core.config import PLACEHOLDER_SECRET

    base = _settings()
    overrides: dict[str, Any] = {
        "database_url": f"sqlite+pysqlite:///{data_dir / 'demo.sqlite'}",
        "environment": "development",
        "network": network,
    }
    own = demo_secrets(data_dir)
    for name in ("secret_key", "api_key_pepper"):
        if getattr(base, name).get_secret_value() == PLACEHOLDER_SECRET:
            overrides[name] = own[name]
    return _settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.core.heap import freeze_startup_heap
    from api.core.log import uvicorn_log_config
    from api.main import create_app

    settings = _settings()
    _refuse_public_placeholder(settings, args.host)
    proxies = _forwarded_allow_ips(settings, args.forwarded_allow_ips)
    # One message, not a traceback from the server's startup.
    check_database(settings.resolved_database_url, name="NACHTROUTE_DATABASE_URL")
    app = create_app(settings)
    freeze_startup_heap()  # no full collection pauses every request for start-up's objects
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=uvicorn_log_config("info"),
        forwarded_allow_ips=proxies,
    )
    return 0


def _forwarded_allow_ips(settings: Any, given: str | None) -> str | None:
    """The proxies whose ``X-Forwarded-For`` uvicorn believes: ``--forwarded-allow-ips``,
    else ``FORWARDED_ALLOW_IPS``, else ``None`` (uvicorn's loopback default). Errors:
    `UserInputError` for ``*`` outside development (any caller then writes the address
    the sign-in limits count, a fresh count per forged address) and for an entry that is
    no address or network."""
    import ipaddress
    import os

    option = "--forwarded-allow-ips"
    if given is None:
        given, option = os.environ.get("FORWARDED_ALLOW_IPS"), "FORWARDED_ALLOW_IPS"
    if given is None:
        return None
    entries = [part.strip() for part in given.split(",") if part.strip()]
    if "*" in entries:
        if settings.environment != "development":
            raise UserInputError(
                f"{option}: '*' trusts every caller's own X-Forwarded-For; name the reverse "
                "proxy's address or network"
            )
        return given
    for entry in entries:
        if entry.startswith("unix:"):
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise UserInputError(
                f"{option}: {entry!r} is no IP address or network (e.g. 10.0.0.2 or 10.0.0.0/24)"
            ) from None
    return ",".join(entries)


def _demo_night(now: datetime) -> date:
    """The night under way, else the next one."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo("Europe/Amsterdam"))
    if local.hour >= 12:
        return local.date()
    if local.hour < 7:
        return local.date() - timedelta(days=1)
    return local.date()


def _port_free_or_refuse(host: str, port: int) -> None:
    """Raise `UserInputError` naming ``--port`` when ``host:port`` cannot be served on (a
    demo already running there would otherwise lose its database to this one's re-seed)."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            # As uvicorn binds: a closed socket's TIME_WAIT is no refusal, a listener is.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise UserInputError(
            f"--port {port}: cannot serve on {host}:{port} ({error.strerror}); is a demo "
            "already running there? Stop it or pick another --port (nothing was changed)"
        ) from None


def _demo_network(name: str | None, data_dir: Path) -> tuple[Any, Any]:
    """The demo's road network, imported from the bundled Porto extract the first time."""
    import geo
    from api.travel import use_network

    if name is None:
        return use_network(None), None
    try:
        if name not in geo.network_names(data_dir_path=data_dir):
            if name != "porto-demo":
                raise UserInputError(
                    f"--network: no network {name!r} imported (nachtroute geo import FILE "
                    f"--name {name}), or use the default, porto-demo"
                )
            extract = Path(geo.__file__).parent / "data" / "porto_portugal.osm.pbf"
            print(
                "nachtroute demo: importing the bundled Porto road network (once) ...",
                file=sys.stderr,
            )
            geo.import_network(extract, name=name, data_dir_path=data_dir)
        road = use_network(name, data_dir=data_dir)
    except (geo.GeoError, OSError) as error:
        raise UserInputError(f"--network {name}: {error}") from None
    network = road.network
    assert network is not None  # use_network loaded it or raised

    def on_road(lat: float, lon: float) -> tuple[float, float] | None:
        try:
            snapped = geo.snap_points(network, [lat], [lon])
        except geo.GeoError:
            return None
        return float(snapped.lat[0]), float(snapped.lon[0])

    return road, on_road


def _demo(args: argparse.Namespace) -> int:
    if not 1 <= args.visits <= 200:
        raise UserInputError("--visits: between 1 and 200")
    from api.core.roles import Role
    from api.db.engine import make_engine, make_session_factory
    from api.db.migrate import upgrade
    from api.repositories import accounts, nights
    from api.seed import (
        CENTRE,
        DEMO_NURSE_TOTP_SECRET,
        DEMO_PASSWORD,
        DEMO_TOTP_SECRET,
        PORTO_CENTRE,
        seed_region,
        seed_requests,
    )
    from api.services.planning import replan

    base = _settings()
    data_dir = Path(base.data_dir)
    database = data_dir / "demo.sqlite"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserInputError(
            f"{data_dir}: cannot create the data folder ({error.strerror})"
        ) from None
    # Everything a typo or a running demo can refuse is checked before the old demo's
    # database is removed: a refused option must leave a running demo as it was.
    network = None if args.network.lower() == "none" else args.network
    road, on_road = _demo_network(network, data_dir)
    settings = demo_settings(data_dir, network)
    url = settings.resolved_database_url
    from api.core.clock import clock_from_settings

    clock = clock_from_settings(settings)  # NACHTROUTE_CLOCK: try a night at any hour
    if not args.no_serve:
        _port_free_or_refuse(args.host, args.port)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    now = clock()
    night_date = _demo_night(now)
    print(
        f"nachtroute demo: seeding a fictional region in {database} (tokens signed with the "
        f"demo's own random secret, {data_dir / DEMO_SECRETS_FILE}) ...",
        file=sys.stderr,
    )
    upgrade(url)
    engine = make_engine(url)
    centre = PORTO_CENTRE if road.network is not None else CENTRE
    with make_session_factory(engine)() as session:
        seeded = seed_region(
            session, settings, night_date=night_date, organisations=4, centre=centre
        )
        seed_requests(
            session,
            seeded,
            night_date=night_date,
            now=now,
            visits=args.visits,
            centre=centre,
            on_road=on_road,
        )
        region = accounts.get_region(session)
        night = nights.get_or_create_night(session, region, night_date)
        session.commit()
        result = replan(
            session,
            region,
            night,
            reason="demo: first plan",
            now=now,
            time_limit=3.0,
            publish=True,
        )
    engine.dispose()
    base_url = f"http://{args.host}:{args.port}"
    users = sorted(seeded.users.items(), key=lambda item: (item[1][1].value, item[0]))
    lines = [
        f"Night of {night_date.isoformat()} (23:00-07:00): {result.plan.summary.visits_planned} "
        f"visits planned for 3 nurses, {result.plan.summary.visits_unassigned} left out "
        + (
            "(travel: straight-line estimates; no road network)."
            if result.plan.summary.travel_estimated
            else f"(travel: road network {network!r}; demo clients are fictional, on Porto's "
            "roads. Road data (c) OpenStreetMap contributors, ODbL 1.0)."
        ),
        "",
        f"API docs:      {base_url}/docs",
        f"Planner page:  {base_url}/planner   (sign in as planner)",
        "",
        f"Demo logins (password for all: {DEMO_PASSWORD}):",
    ]
    lines += [f"  {role.value:<16} {name}" for name, (_, role) in users if role != Role.NURSE]
    lines += [f"  {'nurse':<16} " + ", ".join(n for n, (_, r) in users if r == Role.NURSE)]
    lines += [
        f"  privacy officers sign in with a TOTP code for secret {DEMO_TOTP_SECRET}",
        f"  nurses register a phone signed in with a TOTP code for {DEMO_NURSE_TOTP_SECRET}",
        "",
        "Partner API keys (X-API-Key):",
    ]
    with make_session_factory(make_engine(url))() as session:
        names = {o.id: o.name for o in accounts.list_organisations(session)}
    lines += [f"  {names[org]:<36} {key}" for org, key in seeded.api_keys.items()]
    print("\n".join(lines))
    if args.no_serve:
        return 0
    import uvicorn

    from api.core.heap import freeze_startup_heap
    from api.core.log import uvicorn_log_config
    from api.main import create_app

    print(f"\nServing on {base_url} (Ctrl-C to stop)", file=sys.stderr)
    app = create_app(settings, clock=clock)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=uvicorn_log_config("warning"),
    )
    return 0
