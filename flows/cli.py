"""The `racing` command line: migrate, simulate, run one job, or run the demo.

Prefect is imported only by the commands that run flows, so `racing simulate` and
`racing db` start quickly. Every expected error ends the program with one line.
"""

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from racing.database import describe_database_error
from racing.errors import RacingError
from racing.settings import get_settings

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "default.json"
JOBS = (
    "morning_scrape",
    "pre_race_t60",
    "pre_race_t15",
    "post_race",
    "cleanup",
    "stale_run_reaper",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `racing` command."""
    args = _parser().parse_args(argv)
    if not args.runs_flows:
        # Flow commands log through Prefect's handlers, configured by Prefect itself.
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except (RacingError, ValueError, OSError, CommandError) as exc:
        return _fail(str(exc))
    except SQLAlchemyError as exc:
        from flows.database import database_url

        return _fail(describe_database_error(database_url(), exc))
    except KeyboardInterrupt:
        return 130


def _fail(message: str) -> int:
    print(f"racing: error: {message}", file=sys.stderr)
    return 2


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535)")
    return port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="racing", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    parser.set_defaults(runs_flows=False)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    db = commands.add_parser("db", help="migrate the racing database")
    db.add_argument("action", choices=["upgrade", "downgrade"])
    db.add_argument("revision", nargs="?", help="target (default head; base empties)")
    db.set_defaults(command=_db)

    simulate = commands.add_parser("simulate", help="serve a simulated TAB API")
    simulate.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    simulate.add_argument("--port", type=_port, default=8765, help="0 picks one")
    simulate.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (0.0.0.0 in a container)",
    )
    simulate.add_argument(
        "--clock", default="real", help="'real' or a fixed ISO instant (settable later)"
    )
    simulate.set_defaults(command=_simulate)

    run = commands.add_parser("run", help="run one job locally, as a deployment would")
    run.add_argument("job", choices=JOBS)
    run.add_argument("--date", type=date.fromisoformat, help="racing date, YYYY-MM-DD")
    run.add_argument("--as-of", help="replay at this ISO instant (default: now)")
    run.set_defaults(command=_run, runs_flows=True)

    replay = commands.add_parser("replay", help="replay a race day through the flows")
    replay.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    replay.add_argument("--database-url", help="default: RACING_DATABASE_URL")
    replay.add_argument(
        "--delay-scale",
        type=_scale,
        default=0.0,
        help="multiply retry delays by this (default 0: the clock is simulated)",
    )
    replay.set_defaults(command=_replay, runs_flows=True)

    bench = commands.add_parser(
        "bench", help="race-day benchmark: ours against two baseline pollers"
    )
    bench.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    bench.add_argument(
        "--scale", type=int, default=1, help="also a generated day N times larger"
    )
    bench.add_argument("--out", type=Path, default=Path("bench-results"))
    bench.add_argument(
        "--latency-ms", type=int, default=100, help="API delay in the morning timing"
    )
    bench.add_argument(
        "--baseline-budget",
        type=int,
        default=6000,
        help="most calls each real baseline poller makes (0: the whole day)",
    )
    bench.add_argument("--keep-databases", action="store_true")
    bench.set_defaults(command=_bench, runs_flows=True)

    demo = commands.add_parser("demo", help="morning scrape of the default scenario")
    demo.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    demo.set_defaults(command=_demo, runs_flows=True)
    serve = commands.add_parser(
        "serve", help="run every deployment's schedules from this process"
    )
    serve.set_defaults(command=_serve, runs_flows=True)

    metrics = commands.add_parser(
        "metrics", help="serve Prometheus metrics read from the racing database"
    )
    metrics.add_argument("--port", type=_port, default=9108, help="0 picks one")
    metrics.add_argument("--host", default="127.0.0.1", help="address to listen on")
    metrics.add_argument("--as-of", help="report as of this ISO instant (default: now)")
    metrics.set_defaults(command=_metrics)
    return parser


def _db(args: argparse.Namespace) -> int:
    from flows.database import database_url
    from racing.database import downgrade, upgrade

    url = database_url()
    if args.action == "upgrade":
        upgrade(url, args.revision or "head")
    elif args.revision is None:
        raise ValueError("racing db downgrade needs a revision, e.g. base or -1")
    else:
        downgrade(url, args.revision)
    print(f"racing: database {args.action} to {args.revision or 'head'} done")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from racing.simulator.scenario import load_scenario
    from racing.simulator.server import SimulatorServer

    zone = get_settings().zone
    clock = None if args.clock == "real" else _instant(args.clock, zone)
    server = SimulatorServer(
        load_scenario(args.scenario), host=args.host, port=args.port, clock=clock
    )
    print(f"racing: TAB simulator on {server.base_url} (Ctrl-C stops it)", flush=True)
    server.serve_forever()
    return 0


def _run(args: argparse.Namespace) -> int:
    from flows.cleanup import cleanup
    from flows.database import database_url
    from flows.demo import print_job_run
    from flows.morning_scrape import morning_scrape
    from flows.post_race import post_race
    from flows.pre_race import pre_race_t15, pre_race_t60
    from flows.reaper import stale_run_reaper
    from racing.database import check_schema

    settings = get_settings()
    as_of = _instant(args.as_of, settings.zone) if args.as_of else None
    check_schema(database_url())
    if args.job == "morning_scrape":
        result = morning_scrape(racing_date=args.date, as_of=as_of)
    elif args.date is not None:
        raise ValueError(f"{args.job} takes no --date: its races come from --as-of")
    else:
        flows = {
            "pre_race_t60": pre_race_t60,
            "pre_race_t15": pre_race_t15,
            "post_race": post_race,
            "cleanup": cleanup,
            "stale_run_reaper": stale_run_reaper,
        }
        result = flows[args.job](as_of=as_of)
    status = print_job_run(int(str(result["jobRunId"])))
    return 0 if status == "success" else 1


def _replay(args: argparse.Namespace) -> int:
    from flows.replay import run_replay

    report = run_replay(args.scenario, args.database_url, args.delay_scale)
    print(report.format())
    return 0


def _bench(args: argparse.Namespace) -> int:
    from flows.bench import BenchOptions, run_bench
    from racing.bench.report import console_summary

    options = BenchOptions(
        scenario=args.scenario,
        out=args.out,
        scale=args.scale,
        latency_ms=args.latency_ms,
        baseline_budget=args.baseline_budget,
        keep_databases=args.keep_databases,
    )
    report, written = run_bench(
        options, progress=lambda line: print(f"racing bench: {line}", flush=True)
    )
    print(console_summary(report))
    print(f"racing bench: report in {written}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    return run_demo(args.scenario)


def _serve(args: argparse.Namespace) -> int:
    from flows.database import database_url
    from flows.deployments import serve_all
    from racing.database import check_schema

    check_schema(database_url())
    serve_all(get_settings())
    return 0


def _metrics(args: argparse.Namespace) -> int:
    from flows.database import database_url
    from racing.clock import make_clock
    from racing.metrics import start_exporter

    settings = get_settings()
    as_of = _instant(args.as_of, settings.zone) if args.as_of else None
    exporter = start_exporter(
        database_url(),
        settings=settings,
        host=args.host,
        port=args.port,
        clock=make_clock(as_of),
    )
    url = f"http://{args.host}:{exporter.port}/metrics"
    print(f"racing: metrics on {url} (Ctrl-C stops it)", flush=True)
    try:
        exporter.wait()
    finally:
        exporter.close()
    return 0


def _scale(text: str) -> float:
    """A --delay-scale value: a finite number, zero or more."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a scale; give 0 (no waits) or a positive number"
        )
    return value


def _instant(text: str, zone: ZoneInfo) -> datetime:
    from racing.clock import parse_instant

    return parse_instant(text, zone)


if __name__ == "__main__":
    sys.exit(main())
