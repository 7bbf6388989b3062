"""Quality result records: one per rule and evaluation, the rows of ``quality.dq_results``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyspark.sql import types as T

SAMPLE_SIZE = 5


@dataclass(frozen=True)
class EvalContext:
    """Who evaluates and when: stamped on every result; ``as_of`` is freshness' 'now'."""

    run_id: str
    stage: str
    evaluated_at: datetime
    as_of: datetime


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one rule on one data set.

    ``rows_failed`` counts failing rows (row rules, unique, referential, quarantine
    fraction), differing sale dates (silver_gold) or missing rows (bronze_silver); it is
    0 for freshness and row_count, whose measure is in ``observed``. A skipped check
    (too little history, batch too small, input absent) has ``passed`` true and
    ``skipped`` true, with the reason in ``message``.
    """

    run_id: str
    stage: str
    dataset: str
    rule: str
    rule_type: str
    action: str
    rows_checked: int
    rows_failed: int
    passed: bool
    evaluated_at: datetime
    sample_keys: tuple[str, ...] = ()
    observed: str | None = None
    threshold: str | None = None
    skipped: bool = False
    message: str = ""

    @property
    def blocks(self) -> bool:
        """True when a ``fail`` rule failed: the stage must stop."""
        return self.action == "fail" and not self.passed

    @property
    def status(self) -> str:
        """passed, skipped, or by action: failed, warned or quarantined (for reports)."""
        if self.skipped:
            return "skipped"
        if self.passed:
            return "passed"
        return {"fail": "failed", "warn": "warned", "hold": "held"}.get(self.action, "quarantined")


RESULT_COLUMNS: tuple[tuple[str, T.DataType], ...] = (
    ("run_id", T.StringType()),
    ("stage", T.StringType()),
    ("dataset", T.StringType()),
    ("rule", T.StringType()),
    ("rule_type", T.StringType()),
    ("action", T.StringType()),
    ("rows_checked", T.LongType()),
    ("rows_failed", T.LongType()),
    ("passed", T.BooleanType()),
    ("skipped", T.BooleanType()),
    ("sample_keys", T.ArrayType(T.StringType())),
    ("observed", T.StringType()),
    ("threshold", T.StringType()),
    ("message", T.StringType()),
    ("evaluated_at", T.TimestampType()),
)


def result_schema() -> T.StructType:
    """Schema of ``quality.dq_results``."""
    return T.StructType([T.StructField(name, kind, True) for name, kind in RESULT_COLUMNS])


def result_rows(results: Iterable[CheckResult]) -> list[tuple[Any, ...]]:
    """Results as tuples in :data:`RESULT_COLUMNS` order, for ``createDataFrame``."""
    return [
        (
            r.run_id,
            r.stage,
            r.dataset,
            r.rule,
            r.rule_type,
            r.action,
            r.rows_checked,
            r.rows_failed,
            r.passed,
            r.skipped,
            list(r.sample_keys[:SAMPLE_SIZE]),
            r.observed,
            r.threshold,
            r.message,
            r.evaluated_at,
        )
        for r in results
    ]


def blocking(results: Iterable[CheckResult]) -> list[CheckResult]:
    """The ``fail`` rules that failed."""
    return [r for r in results if r.blocks]


def failure_message(stage: str, dataset: str, failed: list[CheckResult]) -> str:
    """One readable line for a stage stopped by ``fail`` rules."""
    parts = [
        f"{r.rule} ({r.rule_type}: {r.message or r.observed}"
        + (f"; e.g. {', '.join(r.sample_keys[:3])}" if r.sample_keys else "")
        + ")"
        for r in failed
    ]
    return (
        f"{stage} {dataset}: stopped before committing, {len(failed)} fail rule(s) broke: "
        + "; ".join(parts)
    )
