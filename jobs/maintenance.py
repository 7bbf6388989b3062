"""Compact (OPTIMIZE) and clean up (VACUUM) every Delta table of the lake.

Runs with `python jobs/maintenance.py`, with `spark-submit` or as a Glue 5.1 job:
`--lake DIR|s3://... [--vacuum-hours 168] [--allow-short-retention] [--no-vacuum]
[--table LAYER.NAME ...]`. A retention below 168 hours is refused unless
`--allow-short-retention` is given. Schedule it when no pipeline stage writes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sales_lakehouse.config import Settings
from sales_lakehouse.jobs import table_name
from sales_lakehouse.pipeline.maintenance import (
    SAFE_RETENTION_HOURS,
    RetentionError,
    check_retention,
)


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
    options, _glue_arguments = parser.parse_known_args(argv)
    return options


def main(argv: list[str] | None = None) -> int:
    """Maintain the tables; exit code 2 for a refused retention."""
    options = parse_args((sys.argv if argv is None else argv)[1:])
    try:
        check_retention(options.vacuum_hours, allow_short_retention=options.allow_short_retention)
    except RetentionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from sales_lakehouse.lake import Lake
    from sales_lakehouse.pipeline.maintenance import maintain
    from sales_lakehouse.session import build_session

    settings = Settings.from_args(lake=options.lake)
    spark = build_session(settings, app_name="sales-lakehouse-maintenance")
    results = maintain(
        Lake(spark, settings),
        vacuum_hours=options.vacuum_hours,
        allow_short_retention=options.allow_short_retention,
        vacuum=not options.no_vacuum,
        tables=options.table,
    )
    for result in results:
        print(f"{result.table:32} files {result.files_before:6} -> {result.files_after:6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
