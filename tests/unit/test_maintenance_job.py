"""jobs/maintenance.py: its options, next to the arguments Glue adds to every job run.

Pure argument parsing (no Spark session is built).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from jobs.maintenance import main, parse_args

# What Glue puts on a job's command line besides the job's own --arguments.
GLUE_ARGUMENTS = [
    "--JOB_NAME",
    "x",
    "--TempDir",
    "s3://b/t",
    "--job-bookmark-option",
    "job-bookmark-disable",
    "--enable-glue-datacatalog",
    "true",
]


def test_min_interval_is_read_between_glue_arguments() -> None:
    options = parse_args(
        [
            "--JOB_NAME",
            "x",
            "--min-interval-hours",
            "168",
            "--TempDir",
            "s3://b/t",
            "--lake",
            "s3://lake",
        ]
    )

    assert options.min_interval_hours == 168.0
    assert options.lake == "s3://lake"


def test_defaults_maintain_every_table_with_glue_arguments_only() -> None:
    options = parse_args(GLUE_ARGUMENTS)

    assert options.min_interval_hours == 0.0
    assert options.vacuum_hours == 168.0
    assert options.table is None
    assert not options.no_vacuum


def test_fractional_interval_and_tables() -> None:
    options = parse_args(
        ["--min-interval-hours", "0.5", "--table", "silver.sales", *GLUE_ARGUMENTS]
    )

    assert options.min_interval_hours == 0.5
    assert options.table == [("silver", "sales")]


def test_a_negative_interval_is_refused_before_spark_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--lake", str(tmp_path), "--min-interval-hours", "-1", *GLUE_ARGUMENTS]

    code = main(["maintenance.py", *argv])

    assert code == 2
    assert "negative" in capsys.readouterr().err
