"""`nachtroute simulate`: simulated nights through the real service (issue 11)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from api.cli._errors import (
    UserInputError,
    absolute_sqlite_url,
    check_database,
    check_database_to_read,
    load_model,
    shown_url,
)

__all__ = ["register"]


def register(subcommands: argparse._SubParsersAction[Any]) -> None:
    """Add ``simulate``."""
    p = subcommands.add_parser(
        "simulate",
        help="play generated nights through the service; policies side by side",
        description=(
            "Generates nights (clients on the road network, recurring planned care of four "
            "home-care organisations, alarm calls by hour, noise and faults; parameters in "
            "api/simulation/params.py) and plays them through the HTTP API of a service it "
            "starts on a free loopback port with its own database and a simulated clock. "
            "Invariants are checked all night; the baselines nearest_free, nearest_free_rule "
            "(the same under the tolerance rule) and fixed_fcfs "
            "play the same nights. Progress on stderr; a table (and with --json a last JSON "
            "line) on stdout."
        ),
    )
    p.add_argument("--nights", type=int, default=1, help="nights to simulate (1-60)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--only-nights",
        metavar="K[,K...]",
        help=(
            "play only these nights of the --nights generated from --seed, numbered from 0 "
            "as in --records (each night is drawn from the seed and its number alone, so "
            "night K replays the same calls, care, noise and faults as in the whole run)"
        ),
    )
    p.add_argument(
        "--nurses", default="3", help="team size, or sizes to compare, e.g. 2,3,4 (1-10 each)"
    )
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help=(
            "run the service's clock this many times real time (60-3600) instead of "
            "stepping it (the default: a stepped clock, NACHTROUTE_CLOCK_FILE, moved from one "
            "event to the next once the service is idle, so its re-plans cost no simulated "
            "time). On a running clock the 0.8 s live search is 1.6 simulated minutes at "
            "120x and the figures measure the machine too (docs/simulation.md)"
        ),
    )
    p.add_argument(
        "--network",
        default="porto-demo",
        help="road network (the bundled Porto extract by default); 'none': straight lines",
    )
    p.add_argument(
        "--policies",
        default="nachtroute,nearest_free,nearest_free_rule,fixed_fcfs",
        help="policies to compare (nachtroute always plays: it is the service)",
    )
    p.add_argument(
        "--no-tolerance",
        action="store_true",
        help="serve with hard planned windows (to measure what the tolerance rule does)",
    )
    p.add_argument("--params", type=Path, metavar="FILE", help="JSON overriding parameters")
    p.add_argument("--database-url", help="a fresh database instead of a temporary SQLite file")
    p.add_argument("--chart", type=Path, metavar="PNG", help="write response-time box plots")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    p.add_argument(
        "--records",
        type=Path,
        metavar="JSONL",
        help=(
            "write each call's and planned visit's outcome per team size, policy and night "
            "(keys and minutes only), to see which visits missed and why"
        ),
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--url",
        help=(
            "play against this running service instead of starting one (never started or "
            "stopped here); needs --database-url (the service's own database, fresh: the "
            "region, accounts and keys are seeded there) and --clock-file (the file it was "
            "started with as NACHTROUTE_CLOCK_FILE); see docs/simulation.md"
        ),
    )
    p.add_argument(
        "--clock-file",
        type=Path,
        metavar="FILE",
        help="with --url: the service's NACHTROUTE_CLOCK_FILE, moved by the simulator",
    )
    p.add_argument(
        "--first-night",
        metavar="YYYY-MM-DD",
        help=(
            "the evening of the first night (default 2026-11-02); a night the clocks change "
            "(e.g. 2026-10-24, 2027-03-27) plays its real 9 or 7 hours"
        ),
    )
    p.set_defaults(handler=_simulate)


def _write_records(
    path: Path, size: int, records: dict[str, Any], tolerance: dict[str, int]
) -> None:
    """Append one JSON line per call and planned visit: team size, policy, night, its
    outcome fields, and for planned care ``miss`` (``None``: inside window or tolerance)."""
    import dataclasses
    import json

    with path.open("a", encoding="utf-8") as out:
        for policy, nights in records.items():
            for record in nights:
                for call in record.calls:
                    row = {"nurses": size, "policy": policy, "night": record.night, "kind": "call"}
                    row |= dataclasses.asdict(call) | {"response": call.response}
                    out.write(json.dumps(row) + "\n")
                for planned in record.planned:
                    row = {"nurses": size, "policy": policy, "night": record.night}
                    row |= {"kind": "planned", **dataclasses.asdict(planned)}
                    row["miss"] = planned.miss(tolerance.get(planned.care_task, 0))
                    out.write(json.dumps(row) + "\n")


def _only_nights(text: str | None, nights: int) -> list[int] | None:
    if text is None:
        return None
    try:
        chosen = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise UserInputError(f"--only-nights: night numbers such as 3,17, not {text!r}") from None
    if not chosen or any(not 0 <= k < nights for k in chosen):
        raise UserInputError(f"--only-nights: numbers from 0 to {nights - 1} (--nights {nights})")
    return chosen


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserInputError(f"--nurses: a number or a list such as 2,3,4, not {text!r}") from None
    if not sizes or any(not 1 <= s <= 10 for s in sizes) or len(set(sizes)) != len(sizes):
        raise UserInputError("--nurses: team sizes between 1 and 10, each once")
    return sizes


def _check_url(url: str) -> None:
    """One message (exit 2) for a --url nobody answers, before anything is seeded."""
    import httpx

    try:
        httpx.get(url.rstrip("/") + "/health", timeout=10).raise_for_status()
    except (httpx.HTTPError, httpx.InvalidURL) as error:  # InvalidURL is no HTTPError
        raise UserInputError(f"--url {url}: no service answers ({type(error).__name__})") from None


def _simulate(args: argparse.Namespace) -> int:
    """Play the run; a SIGTERM (a job's timeout, ``kill``) unwinds like Ctrl-C, so the
    ``nachtroute serve`` it started is stopped and its temporary folder removed: Python's
    default for SIGTERM ends at once, no ``finally`` runs."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return _play(args)  # signal handlers belong to the main thread

    def terminated(signum: int, _frame: object) -> None:
        print("nachtroute: terminated; stopping what it started", file=sys.stderr)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        return _play(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _play(args: argparse.Namespace) -> int:
    if not 1 <= args.nights <= 60:
        raise UserInputError("--nights: between 1 and 60")
    if args.speed is not None and not 60 <= args.speed <= 3600:
        raise UserInputError("--speed: between 60 and 3600 simulated seconds per second")
    sizes = _sizes(args.nurses)
    only = _only_nights(args.only_nights, args.nights)
    from datetime import date, timedelta

    from api.simulation.runner import FIRST_NIGHT

    try:
        first_night = date.fromisoformat(args.first_night) if args.first_night else FIRST_NIGHT
    except ValueError:
        raise UserInputError(
            f"--first-night: a date YYYY-MM-DD, not {args.first_night!r}"
        ) from None
    # The service holds nights of 2000-01-01 to 2199-12-31 (requests, shifts, the reports'
    # months): outside, the run died on an OverflowError or the service's 422 mid-evening.
    if not date(2000, 1, 1) <= first_night <= date(2199, 12, 31) - timedelta(args.nights - 1):
        raise UserInputError(
            f"--first-night: the nights must fall in 2000-01-01 to 2199-12-31 "
            f"(--nights {args.nights} from {first_night.isoformat()})"
        )
    from api.simulation.policies import BASELINES

    known = ("nachtroute", *BASELINES)
    policies = [name.strip() for name in args.policies.split(",") if name.strip()]
    unknown = [name for name in policies if name not in known]
    if unknown or not policies:
        raise UserInputError(
            f"--policies: unknown {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(known)}"
        )
    from api.simulation.params import SimParams

    params = load_model(SimParams, args.params) if args.params else SimParams()
    if args.no_tolerance:
        params = params.model_copy(update={"apply_tolerance": False})
    if args.database_url and len(sizes) > 1:
        raise UserInputError("--database-url: one team size only (each size needs a fresh one)")
    if args.url:
        if not args.database_url or not args.clock_file:
            raise UserInputError(
                "--url: also --database-url (the service's fresh database) and --clock-file "
                "(its NACHTROUTE_CLOCK_FILE); see docs/simulation.md"
            )
        if args.speed is not None:
            raise UserInputError("--url: the service's stepped clock only (no --speed)")
        _check_url(args.url)
    elif args.clock_file:
        raise UserInputError("--clock-file: only with --url (otherwise the simulator owns it)")
    if args.database_url:
        # The served process runs in the run's temporary folder: a relative file would be
        # made there (seeded by the simulator here, empty for the service: it exited with 3).
        args.database_url = absolute_sqlite_url(args.database_url)
        check_database(args.database_url, fresh=True)
    # Found now, not after the whole run has been played (a folder died on IsADirectoryError
    # at the end, the run's figures lost).
    for option, path in (("--records", args.records), ("--chart", args.chart)):
        if path is not None and not path.parent.is_dir():
            raise UserInputError(f"{option} {path}: no folder {path.parent}")
        if path is not None and path.is_dir():
            raise UserInputError(f"{option} {path}: a folder, not a file")
    from api.cli.service_commands import _demo_network, _settings

    network = None if args.network.lower() == "none" else args.network
    data_dir = Path(_settings().data_dir)
    # The served process runs there: on a fresh machine (no demo run yet) it did not exist
    # and `--network none` died on a traceback starting the service (session 28).
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserInputError(
            f"NACHTROUTE_DATA_DIR {data_dir}: cannot make the folder ({error.strerror})"
        ) from None
    if network is not None:
        _demo_network(network, data_dir)  # imports the bundled extract once, or says why not
    from api.simulation.metrics import chart, summarise, table
    from api.simulation.runner import Options, build_world, simulate_team
    from api.simulation.service import NotItsDatabase

    options = Options(
        nights=args.nights,
        seed=args.seed,
        nurses=sizes[0],
        speed=args.speed,
        network=network,
        data_dir=data_dir,
        database_url=args.database_url,
        params=params,
        first_night=first_night,
        url=args.url,
        clock_file=args.clock_file,
        only_nights=only,
    )
    world, road, centre = build_world(options)
    played = len(world.nights)
    out: dict[str, Any] = {}
    total_violations = 0
    for size in sizes:
        options.nurses = size
        bar = None
        if not args.quiet:
            from tqdm import tqdm

            bar = tqdm(
                total=sum(spec.minutes for spec in world.nights),
                unit="sim min",
                desc=f"{size} nurses",
                # Whole minutes: the played minute is a float ("197.09868534999998/480").
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} sim min "
                "[{elapsed}<{remaining}]",
                file=sys.stderr,
            )
        done: dict[int, float] = {}

        def progress(
            night: int, minute: float, bar: Any = bar, done: dict[int, float] = done
        ) -> None:
            if bar is not None:
                bar.update(max(0.0, minute - done.get(night, 0.0)))
                done[night] = max(minute, done.get(night, 0.0))

        try:
            result = simulate_team(
                options, world=world, network=road, centre=centre, progress=progress
            )
        except NotItsDatabase as error:
            raise UserInputError(str(error)) from None
        finally:
            if bar is not None:
                bar.close()
        summaries = {
            name: summarise(records, params.tolerance_minutes)
            for name, records in result.records.items()
            if name in policies or name == "nachtroute"
        }
        violations = [v for r in result.records["nachtroute"] for v in r.violations]
        if args.records:
            _write_records(args.records, size, result.records, params.tolerance_minutes)
        total_violations += len(violations)
        walls = result.wall_seconds_per_night
        which = f" (only {', '.join(map(str, only))})" if only else ""
        print(f"\n## {size} nurses, {played} night(s){which}, seed {args.seed}\n")
        print(table(summaries, played))
        clock = "stepped clock" if args.speed is None else f"speed {args.speed:g}x"
        print(
            f"\ninvariant violations: {len(violations)}; wall time per night: "
            f"mean {sum(walls) / len(walls):.1f} s, max {max(walls):.1f} s "
            f"({clock}, network {network or 'straight-line estimates'})"
        )
        nights_played = result.records["nachtroute"]
        waits = sum(r.replan_wait_seconds for r in nights_played) / len(nights_played)
        print(
            f"per night: {sum(r.wall_seconds for r in nights_played) / len(nights_played):.1f} s "
            f"playing the night, of which {waits:.1f} s waiting for the service's re-plans "
            f"({sum(r.replan_waits for r in nights_played) / len(nights_played):.0f} waits), "
            f"{sum(r.requests for r in nights_played) / len(nights_played):.0f} HTTP requests; "
            f"{sum(r.evening_seconds for r in nights_played) / len(nights_played):.1f} s evening"
        )
        print(
            "key-safe codes: "
            f"{sum(r.keysafe_reveals for r in nights_played)} revealed at the door (each the "
            "code set), refused there "
            f"{_merged([r.keysafe_refused for r in nights_played]) or 'never'}; "
            f"{sum(r.keysafe_probes for r in nights_played)} reveals outside the rules tried, "
            "each refused unless a violation says so"
        )
        for text in violations[:20]:
            print(f"  violation: {text}")
        if args.chart:
            path = (
                args.chart if len(sizes) == 1 else args.chart.with_stem(f"{args.chart.stem}-{size}")
            )
            chart(result.records, path)
            print(f"chart: {path}")
        out[str(size)] = {
            "invariant_violations": len(violations),
            "policies": {
                name: {key: s[key] for key in _json_keys()} for name, s in summaries.items()
            },
        }
    if args.json:
        if len(sizes) == 1:
            only_size = out[str(sizes[0])]
            line: dict[str, Any] = {"nights": played, **only_size}
        else:
            line = {
                "nights": played,
                "invariant_violations": total_violations,
                "policies": out[str(sizes[-1])]["policies"],
                "by_team_size": out,
            }
        print(json.dumps(line))
    return 1 if total_violations else 0


def _merged(counts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for count in counts:
        for key, value in count.items():
            total[key] = total.get(key, 0) + value
    return total


def _json_keys() -> tuple[str, ...]:
    from api.simulation.metrics import JSON_KEYS

    return JSON_KEYS


def register_report(subcommands: argparse._SubParsersAction[Any]) -> None:
    """Add ``report``."""
    p = subcommands.add_parser(
        "report",
        help="a month's report per organisation: HTML with charts, CSV, cost shares",
        description=(
            "Reads the service's database (--database-url, else NACHTROUTE_DATABASE_URL, "
            "else nachtroute.sqlite in the data directory; the demo's is demo.sqlite there) "
            "and creates none; writes "
            "report.html, organisations.csv and visits.csv for the nights of the month; cost "
            "shares follow NACHTROUTE_COST_* (fixed part + per visit or care minute)."
        ),
    )
    p.add_argument("--month", required=True, help="YYYY-MM, e.g. 2026-11")
    p.add_argument("--organisation", type=int, help="one organisation's figures only (its id)")
    p.add_argument("--out", type=Path, default=Path("report"), help="folder (default ./report)")
    p.add_argument(
        "--database-url",
        help="default: NACHTROUTE_DATABASE_URL, else nachtroute.sqlite in the data directory",
    )
    p.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from api.cli.service_commands import _settings
    from api.core.clock import clock_from_settings
    from api.services.reports import month_bounds, month_report, write_report

    try:
        month_bounds(args.month)
    except ValueError as error:
        raise UserInputError(f"--{error}") from None
    settings = _settings(**({"database_url": args.database_url} if args.database_url else {}))
    check_database_to_read(settings, option="--database-url", given=bool(args.database_url))
    from sqlalchemy.exc import SQLAlchemyError

    from api.db.engine import make_engine, make_session_factory

    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            report = month_report(
                session,
                settings,
                args.month,
                now=clock_from_settings(settings)(),
                organisation_id=args.organisation,
            )
    except SQLAlchemyError as error:
        raise UserInputError(
            f"cannot read the database {shown_url(settings.resolved_database_url)} "
            f"({error.__class__.__name__}): is it migrated to this version? `nachtroute "
            "serve` migrates it on start"
        ) from None
    finally:
        engine.dispose()
    if args.organisation is not None and not report.organisations:
        raise UserInputError(f"--organisation: no home-care organisation {args.organisation}")
    try:
        written = write_report(report, args.out)
    except OSError as error:
        raise UserInputError(f"--out {args.out}: cannot write ({error.strerror})") from None
    shares = ", ".join(f"{o.organisation_id}: {o.cost_share_eur:.2f}" for o in report.organisations)
    print(
        f"{args.month}: {len(report.nights)} nights, total EUR {report.total_cost_eur:.2f}; "
        f"shares {shares}; wrote {', '.join(str(p) for p in written)}"
        + (
            f"; not ended, left out: {', '.join(report.nights_not_ended)}"
            if report.nights_not_ended
            else ""
        )
    )
    return 0
