"""``sales-lakehouse``: run the pipeline, generate sample data, query and list tables,
check data quality."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from sales_lakehouse.config import Settings, is_local
from sales_lakehouse.lake.lock import LakeLockedError
from sales_lakehouse.pipeline import STAGES
from sales_lakehouse.runtime.forecast_cli import add_forecast_command, run_forecast


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sales-lakehouse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run bronze -> silver -> gold over the landing zone")
    run.add_argument(
        "--landing", help="landing root (default ./landing or $SALES_LAKEHOUSE_LANDING)"
    )
    run.add_argument("--lake", help="lake root (default ./lakehouse or $SALES_LAKEHOUSE_LAKE)")
    run.add_argument("--stage", default="all", help=f"one of {', '.join(STAGES)} (default all)")
    run.add_argument(
        "--full-refresh", action="store_true", help="rebuild silver and gold from bronze"
    )
    run.add_argument("--currency", help="currency of lines that leave it empty (default USD)")

    gen = commands.add_parser("generate", help="write a deterministic sample landing set")
    gen.add_argument("--landing", help="landing root to write (default ./landing)")
    gen.add_argument("--lines", type=int, default=50_000, help="sales lines (default 50000)")
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    gen.add_argument("--days", type=int, default=182)

    query = commands.add_parser("query", help="run a SQL query against the lake's tables")
    query.add_argument("sql")
    query.add_argument("--lake")
    query.add_argument("--limit", type=int, default=50, help="rows to print (default 50)")

    tables = commands.add_parser("tables", help="list tables with their version and row count")
    tables.add_argument("--lake")

    quality = commands.add_parser(
        "quality", help="evaluate every contract rule against the lake and report"
    )
    quality.add_argument("--lake")
    quality.add_argument("--html", type=Path, help="also write the quality page to this file")
    quality.add_argument(
        "--recorded",
        action="store_true",
        help="evaluate nothing: show each dataset's last recorded results (seconds)",
    )
    quality.add_argument(
        "--as-of",
        type=_timestamp,
        help="judge freshness at this ISO time (UTC without an offset; default: now)",
    )

    maintain = commands.add_parser(
        "maintain", help="compact (OPTIMIZE) and clean up (VACUUM) every table of the lake"
    )
    maintain.add_argument("--lake")
    maintain.add_argument(
        "--vacuum-hours",
        type=float,
        default=168.0,
        help="keep files unreferenced for fewer hours than this (default 168, the minimum)",
    )
    maintain.add_argument(
        "--allow-short-retention",
        action="store_true",
        help="accept --vacuum-hours below 168 (breaks time travel and slow readers)",
    )
    maintain.add_argument("--no-vacuum", action="store_true", help="compact only")
    maintain.add_argument(
        "--min-interval-hours",
        type=float,
        default=0.0,
        help="skip tables maintained less than this many hours ago (default 0: none)",
    )

    produce = commands.add_parser("produce", help="send generated sale events to Kinesis or SQS")
    produce.add_argument("--to", choices=("kinesis", "sqs"), required=True, dest="target")
    produce.add_argument("--stream", help="Kinesis stream name (with --to kinesis)")
    produce.add_argument("--queue", help="SQS queue name or URL (with --to sqs)")
    produce.add_argument("--count", type=int, default=1000, help="messages to send (default 1000)")
    produce.add_argument(
        "--rate", type=float, help="at most N messages per second (default: no limit)"
    )
    produce.add_argument(
        "--bad-share", type=float, default=0.05, help="share of broken events (0.05)"
    )
    produce.add_argument(
        "--duplicate-share", type=float, default=0.02, help="share of resent events (0.02)"
    )
    produce.add_argument("--seed", type=int, default=7)
    produce.add_argument("--endpoint-url", help="AWS endpoint, e.g. a local moto server")
    produce.add_argument("--region", help="AWS region (default: from the AWS config/env)")
    _add_oltp_commands(commands)
    add_forecast_command(commands)
    _add_held_commands(commands)
    _add_dashboard_command(commands)
    _add_release_commands(commands)
    return parser


def _add_dashboard_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``dashboard``: the sales dashboard, one offline HTML page (docs/dashboard.md)."""
    dashboard = commands.add_parser(
        "dashboard", help="write the sales dashboard (one offline HTML page) from gold"
    )
    dashboard.add_argument("--lake", help="lake root (default ./lake)")
    dashboard.add_argument("--out", type=Path, default=Path("dashboard.html"), help="HTML file")
    dashboard.add_argument("--from", dest="start", type=date.fromisoformat, help="first day")
    dashboard.add_argument(
        "--to", dest="end", type=date.fromisoformat, help="last day (default: newest sale date)"
    )
    dashboard.add_argument(
        "--currency", help="currency of the charts (default: the one with the most revenue)"
    )


def _add_held_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``held list|release|reject``: the files silver held back (docs/runbook.md)."""
    held = commands.add_parser(
        "held", help="files held back from silver: list them, release or reject one"
    )
    actions = held.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every held file, its rule, figures and state")
    listing.add_argument("--lake", help="lake root (default ./lakehouse or $SALES_LAKEHOUSE_LAKE)")
    for name, text in (
        (
            "release",
            "let a held file through once: its valid rows to silver, bad ones to "
            "quarantine; then run the pipeline",
        ),
        ("reject", "keep a held file out for good (its rows stay in bronze only)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("file", help="the held file's path as listed, or its file name")
        action.add_argument("--reason", required=True, help="why: recorded with the decision")
        action.add_argument(
            "--lake", help="lake root (default ./lakehouse or $SALES_LAKEHOUSE_LAKE)"
        )
        if name == "release":
            action.add_argument("--landing", help="landing root for the run that follows")
            action.add_argument("--currency", help="as for run (default USD)")
            action.add_argument(
                "--no-run",
                action="store_true",
                help="only record the decision; the next run merges",
            )


def _add_oltp_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``oltp fill`` and ``extract``: the order database as a source (docs/oltp.md)."""
    dsn_help = "mysql://USER:PASSWORD@HOST:PORT/DATABASE (default $SALES_LAKEHOUSE_OLTP_DSN)"
    secret_help = (
        "Secrets Manager secret with the username and password (RDS's managed master "
        "secret); the DSN is then mysql://HOST:PORT/DATABASE (default "
        "$SALES_LAKEHOUSE_OLTP_SECRET)"
    )
    oltp = commands.add_parser("oltp", help="the order database: fill it like a live store")
    actions = oltp.add_subparsers(dest="action", required=True)
    fill = actions.add_parser("fill", help="create the tables, place orders, then change them")
    fill.add_argument("--dsn", help=dsn_help)
    fill.add_argument("--secret-id", help=secret_help)
    fill.add_argument("--orders", type=int, default=0, help="orders to place first (default 0)")
    fill.add_argument("--rate", type=float, default=0.0, help="then N changes a second")
    fill.add_argument("--duration", type=float, default=0.0, help="for S seconds")
    fill.add_argument(
        "--products", type=Path, help="products CSV (or folder) to sell (default: P00001-P00200)"
    )
    fill.add_argument("--seed", type=int, help="random seed (default: a new one)")

    extract = commands.add_parser(
        "extract", help="land the order database's changes as Parquet under <landing>/oltp/"
    )
    extract.add_argument("--dsn", help=dsn_help)
    extract.add_argument("--secret-id", help=secret_help)
    extract.add_argument("--landing", help="landing root (default ./landing)")
    extract.add_argument(
        "--table", action="append", dest="tables", help="only this table (repeatable)"
    )
    extract.add_argument(
        "--lookback-minutes",
        type=float,
        default=15.0,
        help="re-read this window before the cursor for late commits (default 15)",
    )
    extract.add_argument(
        "--partitions", type=int, default=4, help="parallel reads of a full load (default 4)"
    )


def _add_release_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``package`` and ``deploy`` (docs/aws.md, "Deploy"); they need a project checkout."""
    package = commands.add_parser(
        "package", help="build the wheel, the Lambda zip, job scripts and template into dist/"
    )
    package.add_argument("--dist", type=Path, default=Path("dist"), help="output folder (dist)")

    deploy = commands.add_parser(
        "deploy", help="build, upload and create or update the AWS stack (CloudFormation)"
    )
    deploy.add_argument("--stack", required=True, help="CloudFormation stack name")
    deploy.add_argument("--region", help="AWS region (default: from the AWS config/env)")
    deploy.add_argument("--env-name", help="EnvironmentName (2-10 of a-z0-9); first deploy")
    deploy.add_argument("--alert-email", help="AlertEmail, subscribed to alerts; first deploy")
    deploy.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another template parameter (repeatable); others keep their current values",
    )
    deploy.add_argument(
        "--dry-run", action="store_true", help="print the change set, then delete it"
    )
    deploy.add_argument("--dist", type=Path, default=Path("dist"), help="artifacts folder (dist)")
    deploy.add_argument(
        "--no-build", action="store_true", help="deploy what `make package` left in --dist"
    )
    deploy.add_argument("--endpoint-url", help="AWS endpoint, e.g. a local moto server")


def _timestamp(text: str) -> datetime:
    """An ISO date or timestamp as naive UTC."""
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _session(settings: Settings, *, short_lived: bool = False):  # type: ignore[no-untyped-def]
    """The Spark session; ``short_lived`` for a command that reads a few tables and stops."""
    from sales_lakehouse.runtime.session import build_session, check_java

    check_java()
    return build_session(settings, short_lived=short_lived)


def _run(args: argparse.Namespace) -> int:
    from sales_lakehouse.pipeline import run
    from sales_lakehouse.pipeline.nothing_new import nothing_new

    if args.stage not in STAGES:
        raise ValueError(f"unknown stage {args.stage!r}: use one of {', '.join(STAGES)}")
    settings = Settings.from_args(args.landing, args.lake, args.currency)
    needs_landing = args.stage in ("bronze", "all") and is_local(settings.landing)
    if needs_landing and not Path(settings.landing).is_dir():
        raise FileNotFoundError(f"landing folder {settings.landing} does not exist")
    # Nothing new is decided without Spark when it can be (pipeline/nothing_new.py).
    summary = None if args.full_refresh else nothing_new(settings, args.stage)
    if summary is None:
        summary = run(
            _session(settings), settings, stage=args.stage, full_refresh=args.full_refresh
        )
    print("\n".join(summary.lines()))
    return 1 if summary.errors else 0


def _held(args: argparse.Namespace) -> int:
    from sales_lakehouse.pipeline.held import decide, held_files, held_lines

    settings = Settings.from_args(
        getattr(args, "landing", None), args.lake, getattr(args, "currency", None)
    )
    spark = _session(settings)
    if args.action == "list":
        print("\n".join(held_lines(held_files(spark, settings))))
        return 0
    decide(spark, settings, args.file, args.action, args.reason)
    if args.action != "release" or args.no_run:
        return 0
    from sales_lakehouse.pipeline import run

    summary = run(spark, settings)
    print("\n".join(summary.lines()))
    return 1 if summary.errors else 0


def _generate(args: argparse.Namespace) -> int:
    from sales_lakehouse_tools.generate import generate_landing

    landing = Path(args.landing or "landing")
    report = generate_landing(
        landing, lines=args.lines, seed=args.seed, start=args.start, days=args.days
    )
    print("\n".join(report.summary_lines()))
    return 0


def _query(args: argparse.Namespace) -> int:
    settings = Settings.from_args(lake=args.lake)
    from sales_lakehouse.lake.registry import TableRegistry

    spark = _session(settings, short_lived=True)
    TableRegistry(spark, settings).register_all()
    spark.sql(args.sql).show(args.limit, truncate=False)
    return 0


def _tables(args: argparse.Namespace) -> int:
    from sales_lakehouse.lake import Lake

    settings = Settings.from_args(lake=args.lake)
    lake = Lake(_session(settings, short_lived=True), settings)
    names = lake.registry.table_names()
    if not names:
        print(f"no tables in {settings.lake}: run `sales-lakehouse run` first")
        return 0
    print(f"{'table':<36} {'version':>7} {'rows':>10}")
    for layer, name in names:
        rows = lake.read(layer, name).count()
        print(f"{layer + '.' + name:<36} {lake.version(layer, name):>7} {rows:>10}")
    return 0


def _quality(args: argparse.Namespace) -> int:
    from sales_lakehouse.dashboard.quality_page import render_quality
    from sales_lakehouse.lake import Lake
    from sales_lakehouse.pipeline.quality import (
        QualityRun,
        latest_results,
        quarantine_by_rule,
        result_history,
        run_quality,
    )
    from sales_lakehouse.quality.report import text_report

    settings = Settings.from_args(lake=args.lake)
    if is_local(settings.lake) and not Path(settings.lake).is_dir():
        raise FileNotFoundError(f"lake {settings.lake} does not exist: run the pipeline first")
    spark = _session(settings, short_lived=args.recorded)  # a recorded page only reads
    lake = Lake(spark, settings)
    if args.recorded:
        found = QualityRun(latest_results(result_history(lake)))
        if not found.results:
            raise FileNotFoundError(f"no recorded quality results in {settings.lake}")
        datasets = sorted({r.dataset for r in found.results})
        found.quarantine = {d: quarantine_by_rule(lake, d) for d in datasets}
    else:
        found = run_quality(spark, settings, as_of=args.as_of)
    print("\n".join(text_report(found.results, found.quarantine)))
    if args.html:
        page = render_quality(
            [{**r.__dict__, "status": r.status} for r in found.results],
            result_history(lake),
            found.quarantine,
        )
        args.html.write_text(page, encoding="utf-8")
        print(f"quality page: {args.html}")
    return 1 if found.failed else 0


def _maintain(args: argparse.Namespace) -> int:
    from sales_lakehouse.lake import Lake
    from sales_lakehouse.pipeline.maintenance import check_min_interval, check_retention, maintain

    check_retention(args.vacuum_hours, allow_short_retention=args.allow_short_retention)
    check_min_interval(args.min_interval_hours)
    settings = Settings.from_args(lake=args.lake)
    if is_local(settings.lake) and not Path(settings.lake).is_dir():
        raise FileNotFoundError(f"lake {settings.lake} does not exist: run the pipeline first")
    results = maintain(
        Lake(_session(settings), settings),
        vacuum_hours=args.vacuum_hours,
        allow_short_retention=args.allow_short_retention,
        vacuum=not args.no_vacuum,
        min_interval_hours=args.min_interval_hours,
    )
    for result in results:
        print(result.summary)
    return 0


def _produce(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from sales_lakehouse.aws import client
    from sales_lakehouse.ingest.stream_put import KinesisTarget, Pacing, SqsTarget
    from sales_lakehouse_tools.producer import produce

    name = args.stream if args.target == "kinesis" else args.queue
    if not name:
        raise ValueError(
            f"--to {args.target} needs --{'stream' if args.target == 'kinesis' else 'queue'}"
        )
    try:
        aws = client(args.target, args.endpoint_url, args.region)
        if args.target == "kinesis":
            target: KinesisTarget | SqsTarget = KinesisTarget(aws, name)
        else:
            url = name if name.startswith(("http://", "https://")) else None
            target = SqsTarget(aws, url or aws.get_queue_url(QueueName=name)["QueueUrl"])
        summary = produce(
            target,
            args.count,
            seed=args.seed,
            bad_share=args.bad_share,
            duplicate_share=args.duplicate_share,
            pacing=Pacing(rate=args.rate),
            progress=lambda done: print(f"\r{done.line()}", end="", file=sys.stderr, flush=True),
        )
    except (BotoCoreError, ClientError) as error:
        raise RuntimeError(f"{args.target} {name}: {error}") from error
    print(file=sys.stderr)
    print(summary.line())
    return 1 if summary.failed else 0


def _package(args: argparse.Namespace) -> int:
    from sales_lakehouse_tools.deploy.package import build_release, describe, project_root

    release = build_release(project_root(), args.dist)
    print("\n".join(describe(release)))
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from sales_lakehouse_tools.deploy.package import build_release, load_release, project_root
    from sales_lakehouse_tools.deploy.stack import DeployRequest, deploy, parse_parameters

    request = DeployRequest(
        stack=args.stack,
        region=args.region,
        endpoint_url=args.endpoint_url,
        env_name=args.env_name,
        alert_email=args.alert_email,
        parameters=parse_parameters(args.parameter),
        dry_run=args.dry_run,
    )
    if args.no_build:
        release = load_release(args.dist)
    else:
        print(f"building the release into {args.dist}/", flush=True)
        release = build_release(project_root(), args.dist)
    deploy(request, release, out=lambda line: print(line, flush=True))
    return 0


def _oltp(args: argparse.Namespace) -> int:
    from sales_lakehouse.oltp.fill import fill, read_catalogue
    from sales_lakehouse.oltp.secret import resolve_dsn

    catalogue = read_catalogue(args.products) if args.products else None
    stats = fill(
        resolve_dsn(args.dsn, args.secret_id),
        orders=args.orders,
        rate=args.rate,
        duration=args.duration,
        catalogue=catalogue,
        seed=args.seed,
    )
    print(stats.line())
    return 0


def _extract(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from sales_lakehouse.oltp.secret import resolve_dsn
    from sales_lakehouse.pipeline.extract import TABLES, extract_oltp

    dsn = resolve_dsn(args.dsn, args.secret_id)
    if args.lookback_minutes < 0:
        raise ValueError("--lookback-minutes must not be negative")
    settings = Settings.from_args(landing=args.landing)
    extract_oltp(
        _session(settings),
        settings,
        dsn,
        tables=args.tables or tuple(TABLES),
        lookback=timedelta(minutes=args.lookback_minutes),
        partitions=args.partitions,
        progress=lambda line: print(line, flush=True),
    )
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from sales_lakehouse.pipeline.dashboard import build_dashboard

    settings = Settings.from_args(lake=args.lake)
    build_dashboard(
        _session(settings, short_lived=True),
        settings,
        args.out,
        start=args.start,
        end=args.end,
        currency=args.currency,
        progress=lambda line: print(line, flush=True),
    )
    return 0


COMMANDS = {
    "run": _run,
    "generate": _generate,
    "query": _query,
    "tables": _tables,
    "quality": _quality,
    "maintain": _maintain,
    "produce": _produce,
    "oltp": _oltp,
    "extract": _extract,
    "dashboard": _dashboard,
    "forecast": run_forecast,
    "held": _held,
    "package": _package,
    "deploy": _deploy,
}


def main(argv: Sequence[str] | None = None, *, ignore_unknown: bool = False) -> int:
    """Parse arguments, run the command, and turn expected errors into one-line messages.

    ``ignore_unknown``: leave arguments the command does not take alone (a Glue job's
    ``--JOB_NAME``, ``--TempDir`` …) instead of refusing them.
    """
    parser = build_parser()
    args = parser.parse_known_args(argv)[0] if ignore_unknown else parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LakeLockedError as error:  # another run holds the lake: busy, not broken
        print(f"sales-lakehouse {args.command}: error: {error}", file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"sales-lakehouse {args.command}: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, ValueError | FileNotFoundError) else 1
    except Exception as error:  # Spark's AnalysisException and friends: keep it to one line
        if type(error).__name__ in ("AnalysisException", "ParseException"):
            message = str(error).strip().splitlines()[0]
            print(f"sales-lakehouse {args.command}: error: {message}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
