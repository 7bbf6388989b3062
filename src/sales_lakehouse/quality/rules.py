"""Row-level checks derived from a data contract, and their evaluation.

Every check is a (rule name, failing condition, reason, action) built from the contract:
required values, parsable types, ranges, allowed values, patterns and the contract's SQL
row rules. Evaluation collects *every* failed check of a row, not only the first, in an
array column so a quarantined row carries all its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.contracts import Action, Column, Contract

FAILURES = "_failures"
MALFORMED_RULE = "malformed_line"


@dataclass(frozen=True)
class Check:
    """A row check: ``fails`` is true when the row breaks the rule."""

    rule: str
    fails: SparkColumn
    reason: SparkColumn
    action: Action = "quarantine"
    # The rule type shown in quality results: required, type, min, max, allowed, pattern,
    # malformed or row_rule.
    kind: str = "row_rule"
    # Row rules combine several columns; they are only evaluated on rows whose columns
    # all passed their own checks, so one bad value is reported once, where it is.
    row_rule: bool = False


RAW_PREFIX = "__raw_"


def raw(name: str) -> SparkColumn:
    """The landed (string) value of a contract column, kept beside the typed one."""
    return F.col(f"{RAW_PREFIX}{name}")


def typed(name: str) -> SparkColumn:
    """The typed value of a contract column; row rules' SQL sees these by plain name."""
    return F.col(name)


def _quoted(value: SparkColumn) -> SparkColumn:
    return F.concat(F.lit("'"), F.substring(value, 1, 60), F.lit("'"))


def column_checks(column: Column) -> list[Check]:
    """The checks a single contract column implies."""
    name, checks = column.name, []
    if column.required:
        checks.append(Check(f"{name}_required", raw(name).isNull(), F.lit(f"{name} is missing")))
    checks.append(
        Check(
            f"{name}_type",
            raw(name).isNotNull() & typed(name).isNull(),
            F.concat(
                F.lit(f"{name} "), _quoted(raw(name)), F.lit(f" is not a valid {column.type}")
            ),
        )
    )
    if column.min is not None:
        checks.append(
            Check(
                f"{name}_min",
                typed(name) < F.lit(column.min),
                F.concat(
                    F.lit(f"{name} "), typed(name).cast("string"), F.lit(f" is below {column.min}")
                ),
            )
        )
    if column.max is not None:
        checks.append(
            Check(
                f"{name}_max",
                typed(name) > F.lit(column.max),
                F.concat(
                    F.lit(f"{name} "), typed(name).cast("string"), F.lit(f" is above {column.max}")
                ),
            )
        )
    if column.allowed is not None:
        checks.append(
            Check(
                f"{name}_allowed",
                ~typed(name).isin(list(column.allowed)),
                F.concat(
                    F.lit(f"{name} "),
                    _quoted(typed(name)),
                    F.lit(f" is not one of {', '.join(column.allowed)}"),
                ),
            )
        )
    if column.pattern is not None:
        checks.append(
            Check(
                f"{name}_pattern",
                ~typed(name).rlike(column.pattern),
                F.concat(
                    F.lit(f"{name} "),
                    _quoted(typed(name)),
                    F.lit(f" does not match {column.pattern}"),
                ),
            )
        )
    # Column rule names are <column>_<kind>; the kind is what quality results report.
    return [replace(check, kind=check.rule.removeprefix(f"{name}_")) for check in checks]


def contract_checks(contract: Contract) -> list[Check]:
    """All row checks of a contract: malformed lines, columns, then the row rules."""
    checks = [
        Check(
            MALFORMED_RULE,
            F.col("_is_malformed"),
            F.concat(
                F.lit("line does not have the header's number of fields: "),
                _quoted(F.col("_raw_line")),
            ),
            kind="malformed",
        )
    ]
    for column in contract.columns:
        checks.extend(column_checks(column))
    for rule in contract.rules:
        checks.append(
            Check(rule.name, ~F.expr(rule.expr), F.lit(rule.reason), rule.action, row_rule=True)
        )
    return checks


def _failed(checks: list[Check]) -> SparkColumn:
    """Array of {rule, reason, action} for the given checks the row fails."""
    failures = F.array(
        *[
            F.when(
                F.coalesce(check.fails, F.lit(False)),
                F.struct(
                    F.lit(check.rule).alias("rule"),
                    F.coalesce(check.reason, F.lit(check.rule)).alias("reason"),
                    F.lit(check.action).alias("action"),
                ),
            )
            for check in checks
        ]
    )
    return F.filter(failures, lambda item: item.isNotNull())


def with_failures(df: DataFrame, checks: list[Check]) -> DataFrame:
    """Add ``_failures``: every column check the row fails, then its failed row rules."""
    column_failures = _failed([c for c in checks if not c.row_rule])
    row_rules = [c for c in checks if c.row_rule]
    if not row_rules:
        return df.withColumn(FAILURES, column_failures)
    staged = df.withColumn(FAILURES, column_failures)
    row_failures = F.when(F.size(FAILURES) == 0, _failed(row_rules)).otherwise(F.col(FAILURES))
    return staged.withColumn(FAILURES, row_failures)


def is_rejected(failures: SparkColumn) -> SparkColumn:
    """True when any failure has an action that keeps the row out of silver."""
    return F.exists(failures, lambda item: item["action"] != F.lit("warn"))
