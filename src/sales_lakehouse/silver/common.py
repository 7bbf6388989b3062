"""Steps every silver dataset shares: typing, validation, quarantine shape, deduplication."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from sales_lakehouse.columns import clean_string, parse_value, row_hash
from sales_lakehouse.contracts import Contract
from sales_lakehouse.quality.rules import (
    FAILURES,
    RAW_PREFIX,
    contract_checks,
    is_rejected,
    raw,
    with_failures,
)

LINEAGE = ("_source_file", "_ingested_at", "_run_id")
ROW_HASH = "_row_hash"


# Which of two versions of a key is newer: compared column by column, left to right.
# Batch files: the later ingest, then (within one run) the file whose name sorts last
# (exports are named by date). Silver sales puts the change time first (silver/sales.py).
INGEST_ORDER: tuple[str, ...] = ("_ingested_at", "_source_file")


def latest_first(order: Sequence[str] = INGEST_ORDER) -> list[Column]:
    """Sort columns putting the newest version first; the row hash only makes it total."""
    return [*(F.col(name).desc() for name in order), F.col(ROW_HASH).desc()]


def with_typed_columns(
    bronze: DataFrame, contract: Contract, defaults: Mapping[str, str] | None = None
) -> DataFrame:
    """Keep each landed value as ``__raw_<name>`` and add the typed ``<name>``.

    A missing value takes the column's default (``defaults`` overrides the contract's);
    a value that is present but does not parse stays null and fails the type check.
    """
    defaults = defaults or {}
    raws = [clean_string(F.col(c.name)).alias(f"{RAW_PREFIX}{c.name}") for c in contract.columns]
    others = [name for name in bronze.columns if name not in contract.column_names]
    staged = bronze.select(*raws, *others)
    typed = []
    for column in contract.columns:
        value = parse_value(raw(column.name), column.type)
        default = defaults.get(column.name, column.default)
        if default is not None:
            fallback = parse_value(F.lit(default), column.type)
            value = F.when(raw(column.name).isNull(), fallback).otherwise(value)
        typed.append(value.alias(column.name))
    return staged.select("*", *typed)


def validate(
    bronze: DataFrame, contract: Contract, defaults: Mapping[str, str] | None = None
) -> DataFrame:
    """Typed rows with every failed check in ``_failures`` and a fingerprint of the values."""
    typed = with_typed_columns(bronze, contract, defaults)
    checked = with_failures(typed, contract_checks(contract))
    return checked.withColumn(ROW_HASH, row_hash(contract.column_names))


def accepted_rows(validated: DataFrame) -> DataFrame:
    """Rows no blocking rule rejected (warnings are allowed through)."""
    return validated.filter(~is_rejected(F.col(FAILURES)))


def rejected_rows(validated: DataFrame) -> DataFrame:
    return validated.filter(is_rejected(F.col(FAILURES)))


def latest_per_key(
    df: DataFrame, keys: list[str], order: Sequence[str] = INGEST_ORDER
) -> tuple[DataFrame, DataFrame]:
    """Split rows into the latest version per business key and the superseded rest."""
    ranked = _ranked(df, keys, order)
    latest = ranked.filter(F.col("__rank") == 1).drop("__rank")
    superseded = ranked.filter(F.col("__rank") > 1).drop("__rank")
    return latest, superseded


def count_versions(
    df: DataFrame, keys: list[str], order: Sequence[str] = INGEST_ORDER
) -> tuple[int, int]:
    """How many rows :func:`latest_per_key` keeps as latest and as superseded, counted in
    one job (one sort by key instead of one per count)."""
    row = (
        _ranked(df.select(*keys, *order, ROW_HASH), keys, order)
        .agg(
            F.count_if(F.col("__rank") == 1).alias("latest"),
            F.count_if(F.col("__rank") > 1).alias("superseded"),
        )
        .first()
    )
    assert row is not None
    return int(row["latest"]), int(row["superseded"])


def _ranked(df: DataFrame, keys: list[str], order: Sequence[str]) -> DataFrame:
    """``df`` with ``__rank``: 1 for the newest version of each key, then 2, 3, …"""
    window = Window.partitionBy(*keys).orderBy(*latest_first(order))
    return df.withColumn("__rank", F.row_number().over(window))


def to_quarantine(rejected: DataFrame, contract: Contract, quarantined_at: datetime) -> DataFrame:
    """Quarantine shape: the row as landed, lineage, and every rule it failed with reasons."""
    blocking_failures = F.filter(F.col(FAILURES), lambda item: item["action"] != F.lit("warn"))
    return rejected.select(
        *[raw(name).alias(name) for name in contract.column_names],
        "_extra",
        "_raw_line",
        *LINEAGE,
        F.transform(blocking_failures, lambda item: item["rule"]).alias("rules"),
        F.array_join(F.transform(blocking_failures, lambda item: item["reason"]), "; ").alias(
            "reason"
        ),
        F.col(FAILURES).alias("failures"),
        F.lit(quarantined_at).cast("timestamp").alias("_quarantined_at"),
    )


def silver_columns(contract: Contract) -> list[str]:
    """Contract columns then lineage: the start of every silver table's select."""
    return [*contract.column_names, *LINEAGE, ROW_HASH]
