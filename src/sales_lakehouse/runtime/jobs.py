"""What every script in ``jobs/`` does: parse arguments, build the session, run one stage.

The scripts run unchanged with ``python jobs/<job>.py``, with ``spark-submit`` and as AWS
Glue jobs. On Glue (``awsglue`` importable and ``--JOB_NAME`` given) arguments come from
``getResolvedOptions`` and the run is wrapped in ``Job.init`` / ``Job.commit``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from sales_lakehouse.config import LAYERS, Settings
from sales_lakehouse.contracts import DATASETS

OPTIONS = ("landing", "lake", "currency", "full_refresh", "release", "reject", "reason")


def table_name(text: str) -> tuple[str, str]:
    """An argparse type: ``LAYER.TABLE`` -> (layer, table), for jobs that take table names."""
    layer, dot, name = text.partition(".")
    if not dot or layer not in LAYERS or not name:
        raise argparse.ArgumentTypeError(f"expected LAYER.TABLE with LAYER in {LAYERS}")
    return layer, name


def _glue_options(argv: Sequence[str]) -> dict[str, Any] | None:
    """Glue job arguments, or None when not running on Glue."""
    if "--JOB_NAME" not in argv:
        return None
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        return None
    present = [name for name in OPTIONS if f"--{name}" in argv]
    return dict(getResolvedOptions(list(argv), ["JOB_NAME", *present]))


def parse_args(description: str, argv: Sequence[str]) -> dict[str, Any]:
    """Job options as a dict: landing, lake, currency, full_refresh (and JOB_NAME on Glue)."""
    glue = _glue_options(argv)
    if glue is not None:
        glue["full_refresh"] = str(glue.get("full_refresh", "false")).lower() == "true"
        return glue
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--landing", help="landing root: a folder or s3:// prefix")
    parser.add_argument("--lake", help="lake root: a folder or s3:// prefix")
    parser.add_argument("--currency", help="default currency (default USD)")
    parser.add_argument("--full-refresh", action="store_true", dest="full_refresh")
    parser.add_argument("--release", metavar="FILE", help="release a held file, then run")
    parser.add_argument("--reject", metavar="FILE", help="reject a held file, then run")
    parser.add_argument("--reason", help="why (required with --release or --reject)")
    return vars(parser.parse_args(argv[1:]))


def _decisions(options: dict[str, Any]) -> list[tuple[str, str]]:
    """(action, file) of the operator decisions the job's arguments carry."""
    wanted = [(action, options[action]) for action in ("release", "reject") if options.get(action)]
    if wanted and not str(options.get("reason") or "").strip():
        raise ValueError("--release and --reject need --reason: it is recorded with the decision")
    return wanted


def run_job(
    stage: str,
    description: str,
    datasets: tuple[str, ...] = DATASETS,
    argv: Sequence[str] | None = None,
) -> int:
    """Run one stage for ``datasets``; returns the process exit code."""
    from sales_lakehouse.pipeline import run
    from sales_lakehouse.runtime.session import build_session

    argv = list(sys.argv if argv is None else argv)
    options = parse_args(description, argv)
    settings = Settings.from_args(
        options.get("landing"), options.get("lake"), options.get("currency")
    )
    spark = build_session(settings, app_name=f"sales-lakehouse-{stage}")
    job = None
    if "JOB_NAME" in options:
        from awsglue.context import GlueContext
        from awsglue.job import Job

        job = Job(GlueContext(spark.sparkContext))
        job.init(options["JOB_NAME"], options)
    if decisions := _decisions(options):  # the operator's way through on Glue (runbook)
        from sales_lakehouse.pipeline.held import decide

        for action, path in decisions:
            decide(spark, settings, path, action, str(options["reason"]))
    summary = run(
        spark, settings, stage=stage, datasets=datasets, full_refresh=options["full_refresh"]
    )
    print("\n".join(summary.lines()))
    if job is not None:
        job.commit()
    return 1 if summary.errors else 0
