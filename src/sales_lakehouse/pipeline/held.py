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
from sales_lakehouse.quality.results import CheckResult, EvalContext

ACTIONS = {"release": "released", "reject": "rejected"}


def file_result(
    ctx: EvalContext, held: HeldFile, rule_type: str, action: str, message: str, *, passed: bool
) -> CheckResult:
    """A ``quality.dq_results`` record about one held file: its hold (by silver, action
    ``hold``) or an operator's decision on it (``release`` / ``reject``)."""
    return CheckResult(
        run_id=ctx.run_id,
        stage=ctx.stage,
        dataset=held.dataset,
        rule=held.rule or "",
        rule_type=rule_type,
        action=action,
        rows_checked=held.rows or 0,
        rows_failed=held.quarantined or 0,
        passed=passed,
        evaluated_at=ctx.evaluated_at,
        observed=held.observed,
        message=message,
    )


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
        message = f"{ACTIONS[action]} {event.source_file}: {event.reason}"
        record(lake, [file_result(ctx, event, "decision", action, message, passed=True)])
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
