"""Compact (OPTIMIZE) and clean up (VACUUM) every Delta table of the lake.

Runs with `python jobs/maintenance.py`, with `spark-submit` or as a Glue 5.1 job:
`--lake DIR|s3://... [--vacuum-hours 168] [--allow-short-retention] [--no-vacuum]
[--table LAYER.NAME ...] [--min-interval-hours 0]`. A retention below 168 hours is refused
unless `--allow-short-retention` is given. Schedule it when no pipeline stage writes (on
AWS: the last job of the pipeline's workflow). `--min-interval-hours H` skips the tables
maintained (OPTIMIZE or VACUUM in their Delta history) less than H hours ago; 0, the
default, maintains every table on every run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sales_lakehouse.config import Settings
from sales_lakehouse.pipeline.maintenance import (
    SAFE_RETENTION_HOURS,
    check_min_interval,
    check_retention,
)
from sales_lakehouse.runtime.jobs import table_name


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The job's options; Glue's own arguments (``--JOB_NAME``, ``--TempDir`` …) are ignored."""
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False)
    parser.add_argument("--lake", help="lake root: a folder or s3:// prefix")
    parser.add_argument("--vacuum-hours", type=float, default=SAFE_RETENTION_HOURS)
    parser.add_argument("--allow-short-retention", action="store_true")
    parser.add_argument("--no-vacuum", action="store_true", help="compact only")
    parser.add_argument(
        "--table", action="append", type=table_name, help="LAYER.TABLE (repeatable; default all)"
    )
    parser.add_argument(
        "--min-interval-hours",
        type=float,
        default=0.0,
        help="skip tables maintained less than this many hours ago (default 0: none)",
    )
    options, _glue_arguments = parser.parse_known_args(argv)
    return options


def main(argv: list[str] | None = None) -> int:
    """Maintain the tables; exit code 2 for a refused retention or a negative interval."""
    options = parse_args((sys.argv if argv is None else argv)[1:])
    try:
        check_retention(options.vacuum_hours, allow_short_retention=options.allow_short_retention)
        check_min_interval(options.min_interval_hours)
    except ValueError as error:  # a RetentionError or a negative interval
        print(f"error: {error}", file=sys.stderr)
        return 2
    from sales_lakehouse.lake import Lake
    from sales_lakehouse.pipeline.maintenance import maintain
    from sales_lakehouse.runtime.session import build_session

    settings = Settings.from_args(lake=options.lake)
    spark = build_session(settings, app_name="sales-lakehouse-maintenance")
    results = maintain(
        Lake(spark, settings),
        vacuum_hours=options.vacuum_hours,
        allow_short_retention=options.allow_short_retention,
        vacuum=not options.no_vacuum,
        tables=options.table,
        min_interval_hours=options.min_interval_hours,
    )
    for result in results:
        print(result.summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
