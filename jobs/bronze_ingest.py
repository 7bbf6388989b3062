"""Ingest new landing files of every dataset into bronze.

Runs with `python jobs/bronze_ingest.py`, with `spark-submit` or as a Glue 5.1 job:
`--landing DIR|s3://... --lake DIR|s3://... [--currency USD] [--full-refresh]`.
"""

from __future__ import annotations

import sys

from sales_lakehouse.contracts import DATASETS
from sales_lakehouse.runtime.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("bronze", __doc__ or "", DATASETS, argv)


if __name__ == "__main__":
    sys.exit(main())
