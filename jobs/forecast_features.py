"""Bring gold.demand_features up to date with gold and export it (docs/forecast.md).

Runs with `python jobs/forecast_features.py`, with `spark-submit` or as a Glue 5.1 job:
`--lake DIR|s3://... [--full-refresh]`. Writes gold.demand_features (incrementally: the
days gold's changes touched and the 28 after them) and its Parquet export under
`<lake>/forecast/features/`, the training channel of the SageMaker training jobs. Glue's own
arguments (`--JOB_NAME`, `--TempDir` …) are left alone.
"""

from __future__ import annotations

import sys

from sales_lakehouse.runtime.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv[1:])
    return cli_main(["forecast", "features", *args], ignore_unknown=True)


if __name__ == "__main__":
    sys.exit(main())
