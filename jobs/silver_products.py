"""Validate new product versions and maintain the SCD2 history in silver.

Runs with `python jobs/silver_products.py`, with `spark-submit` or as a Glue 5.1 job:
`--landing DIR|s3://... --lake DIR|s3://... [--currency USD] [--full-refresh]`.
"""

from __future__ import annotations

import sys

from sales_lakehouse.runtime.jobs import run_job


def main(argv: list[str] | None = None) -> int:
    return run_job("silver", __doc__ or "", ("products",), argv)


if __name__ == "__main__":
    sys.exit(main())
