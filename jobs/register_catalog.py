"""Register the lake's Delta tables in the Glue Data Catalog as native Delta tables (Athena).

Runs with `python jobs/register_catalog.py` or as a Glue 5.1 job, after gold:
`--lake s3://... --database-prefix ENV [--region R] [--endpoint-url URL] [--table LAYER.NAME ...]`.
Uses boto3 only (sales_lakehouse.lake.glue_catalog); see docs/aws.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sales_lakehouse.aws import client
from sales_lakehouse.lake.glue_catalog import register_lake
from sales_lakehouse.runtime.jobs import table_name


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The job's options; Glue's own arguments (``--JOB_NAME``, ``--TempDir`` …) are ignored."""
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False)
    parser.add_argument("--lake", required=True, help="lake root: s3://bucket/prefix or a folder")
    parser.add_argument(
        "--database-prefix", required=True, help="Glue databases are <prefix>_<layer>"
    )
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    parser.add_argument("--endpoint-url", help="a local emulator such as moto")
    parser.add_argument(
        "--table", action="append", type=table_name, help="LAYER.TABLE (repeatable; default all)"
    )
    options, _glue_arguments = parser.parse_known_args(argv)
    return options


def main(argv: list[str] | None = None) -> int:
    """Register the tables; exit code 1 when none was found or a listed one is missing."""
    options = parse_args((sys.argv if argv is None else argv)[1:])
    results = register_lake(
        options.lake,
        options.database_prefix,
        options.table,
        glue=client("glue", options.endpoint_url, options.region),
        s3=client("s3", options.endpoint_url, options.region),
    )
    for result in results:
        print(f"{result.action:8} {result.database}.{result.table}  {result.location}")
    if not results:
        print(f"no Delta tables found under {options.lake}")
    return 1 if not results or any(r.action == "missing" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
