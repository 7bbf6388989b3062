"""Register the lake's Delta tables in the Glue Data Catalog as native Delta tables (Athena),
then create the dashboard's Athena views over them.

Runs with `python jobs/register_catalog.py` or as a Glue 5.1 job, after gold:
`--lake s3://... --database-prefix ENV [--athena-workgroup WG] [--region R]
[--endpoint-url URL] [--table LAYER.NAME ...]`. Without `--athena-workgroup` no view is
created. Uses boto3 only (sales_lakehouse.lake.glue_catalog, .athena_views); see docs/aws.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sales_lakehouse.aws import client
from sales_lakehouse.lake.athena_views import ViewError, create_views
from sales_lakehouse.lake.glue_catalog import register_lake
from sales_lakehouse.runtime.jobs import table_name


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The job's options; Glue's own arguments (``--JOB_NAME``, ``--TempDir`` …) are ignored."""
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False)
    parser.add_argument("--lake", required=True, help="lake root: s3://bucket/prefix or a folder")
    parser.add_argument(
        "--database-prefix", required=True, help="Glue databases are <prefix>_<layer>"
    )
    parser.add_argument(
        "--athena-workgroup",
        help="create the dashboard's views (<prefix>_gold.dash_*) through this Athena workgroup",
    )
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    parser.add_argument("--endpoint-url", help="a local emulator such as moto")
    parser.add_argument(
        "--table", action="append", type=table_name, help="LAYER.TABLE (repeatable; default all)"
    )
    options, _glue_arguments = parser.parse_known_args(argv)
    return options


def main(argv: list[str] | None = None) -> int:
    """Register the tables, then create the views; exit code 1 when no table was found, a
    listed one is missing or Athena refused a view."""
    options = parse_args((sys.argv if argv is None else argv)[1:])
    glue = client("glue", options.endpoint_url, options.region)
    results = register_lake(
        options.lake,
        options.database_prefix,
        options.table,
        glue=glue,
        s3=client("s3", options.endpoint_url, options.region),
    )
    for result in results:
        print(f"{result.action:8} {result.database}.{result.table}  {result.location}")
    if not results:
        print(f"no Delta tables found under {options.lake}")
    failed = not results or any(r.action == "missing" for r in results)
    if options.athena_workgroup and results:
        try:
            views = create_views(
                options.database_prefix,
                options.athena_workgroup,
                athena=client("athena", options.endpoint_url, options.region),
                glue=glue,
            )
        except ViewError as error:
            print(f"error    {error}")
            return 1
        for view in views:
            print(f"{view.action:8} {view.view}  {view.detail}".rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
