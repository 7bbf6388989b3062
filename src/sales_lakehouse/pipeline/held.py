"""The operator's way through a held file: list, release once, reject for good.

A decision is a write to the lake: it takes the lake lock, appends the event to
``meta.held_files`` and records it in ``quality.dq_results`` (stage ``operator``, action
``release`` or ``reject``, the reason given, the time). A released file's rows go
through at the next silver run (:func:`sales_lakehouse.pipeline.run`); a rejected one's
stay in bronze only.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.lake import Lake
from sales_lakehouse.lake.held_files import MERGED, RELEASED, HeldFile
from sales_lakehouse.lake.lock import lake_lock
from sales_lakehouse.pipeline.quality import context, record
from sales_lakehouse.pipeline.summary import Progress, console_progress
from sales_lakehouse.quality.results import CheckResult

ACTIONS = {"release": "released", "reject": "rejected"}


def held_files(spark: SparkSession, settings: Settings) -> list[HeldFile]:
    """Every file ever held back, with its current state, oldest hold first."""
    return Lake(spark, settings).held.current()


def decide(
    spark: SparkSession,
    settings: Settings,
    source_file: str,
    action: str,
    reason: str,
    *,
    progress: Progress = console_progress,
) -> HeldFile:
    """Release or reject a held file (``action``: release | reject), with the reason.

    Raises :class:`~sales_lakehouse.lake.held_files.HeldFileError` when no held file
    matches, or the file is not in a state for the decision.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown decision {action!r}: use {' or '.join(ACTIONS)}")
    with lake_lock(settings.lake, settings.run_id, f"held {action}", progress=progress):
        lake = Lake(spark, settings)
        before = lake.held.find(source_file).status
        event = lake.held.decide(source_file, ACTIONS[action], reason, settings.run_id)
        ctx = context(settings, "operator")
        record(
            lake,
            [
                CheckResult(
                    run_id=ctx.run_id,
                    stage=ctx.stage,
                    dataset=event.dataset,
                    rule=event.rule or "",
                    rule_type="decision",
                    action=action,
                    rows_checked=event.rows or 0,
                    rows_failed=event.quarantined or 0,
                    passed=True,
                    evaluated_at=ctx.evaluated_at,
                    observed=event.observed,
                    message=f"{ACTIONS[action]} {event.source_file}: {event.reason}",
                )
            ],
        )
    if event.status == RELEASED:
        what = "its rows go through at the next silver run"
    elif before == MERGED:
        what = "its rows leave silver and quarantine at the next `run --full-refresh`"
    else:
        what = "its rows stay in bronze only"
    progress(f"{event.dataset}: {event.source_file} {event.status} ({event.reason}): {what}")
    return event


def held_lines(held: list[HeldFile]) -> list[str]:
    """A table of held files for the terminal (``sales-lakehouse held list``)."""
    if not held:
        return ["no held files"]
    header = ("dataset", "state", "held at", "file", "rule", "observed", "decision")
    rows = [
        (
            h.dataset,
            h.status,
            f"{h.held_at:%Y-%m-%d %H:%M}" if h.held_at else "-",
            h.source_file,
            h.rule or "-",
            h.observed or "-",
            h.reason or "-",
        )
        for h in held
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [
        fmt.format(*row) for row in rows
    ]
