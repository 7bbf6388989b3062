"""Rebuild the gold marts for the sale dates silver changes touched.

Runs with `python jobs/gold_sales.py`, with `spark-submit` or as a Glue 5.1 job:
`--landing DIR|s3://... --lake DIR|s3://... [--currency USD] [--full-refresh]`.
"""

from __future__ import annotations

import sys

from sales_lakehouse.contracts import DATASETS
from sales_lakehouse.runtime.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("gold", __doc__ or "", DATASETS, argv)


if __name__ == "__main__":
    sys.exit(main())
