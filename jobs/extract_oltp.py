"""Land the order database's changes as Parquet under <landing>/oltp/<table>/ (docs/oltp.md).

Runs with `python jobs/extract_oltp.py`, with `spark-submit` or as a Glue 5.1 job:
`--dsn mysql://USER:PASSWORD@HOST:PORT/DATABASE --landing DIR|s3://...
[--table orders --table order_lines] [--lookback-minutes 15] [--partitions 4]`.
The DSN may come from $SALES_LAKEHOUSE_OLTP_DSN instead. On AWS the job gets
`--dsn mysql://HOST:PORT/DATABASE --secret-id <RDS master secret ARN>`, and Glue's own
arguments (`--JOB_NAME`, `--TempDir` …) are left alone.
"""

from __future__ import annotations

import sys

from sales_lakehouse.runtime.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv[1:])
    return cli_main(["extract", *args], ignore_unknown=True)


if __name__ == "__main__":
    sys.exit(main())
