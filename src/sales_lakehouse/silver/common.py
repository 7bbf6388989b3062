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
# What a validated row holds of the line as landed, besides ``__raw_<name>`` per column.
LANDED = ("_extra", "_raw_line")


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
    """Typed rows with every failed check in ``_failures`` and a fingerprint of the values.

    The landed values (``__raw_<name>``, ``_extra``, ``_raw_line``) are kept on the rows
    that broke a rule and null on the others: only the quarantine and the sample keys of
    broken rules read them, and on clean rows they would double what a cached batch holds
    (docs/benchmark.md, ninth round).
    """
    typed = with_typed_columns(bronze, contract, defaults)
    checked = with_failures(typed, contract_checks(contract))
    hashed = checked.withColumn(ROW_HASH, row_hash(contract.column_names))
    broke, landed = F.size(F.col(FAILURES)) > 0, landed_columns(hashed)
    return hashed.select(
        *[
            F.when(broke, F.col(name)).alias(name) if name in landed else name
            for name in hashed.columns
        ]
    )


def landed_columns(df: DataFrame) -> list[str]:
    """The columns of a validated frame that hold the line as landed."""
    return [name for name in df.columns if name.startswith(RAW_PREFIX) or name in LANDED]


def accepted_rows(validated: DataFrame) -> DataFrame:
    """Rows no blocking rule rejected (warnings are allowed through): their parsed values
    and lineage, without the landed values and the failures (what silver is made of)."""
    accepted = validated.filter(~is_rejected(F.col(FAILURES)))
    return accepted.drop(*landed_columns(validated), FAILURES)


def rejected_rows(validated: DataFrame) -> DataFrame:
    return validated.filter(is_rejected(F.col(FAILURES)))


# A batch whose keys with more than one version are at most this many ranks only their
# rows (the keys broadcast to pick them out); a larger one ranks every row (sorted by key).
BROADCAST_REPEATED = 250_000


def latest_per_key(
    df: DataFrame,
    keys: list[str],
    order: Sequence[str] = INGEST_ORDER,
    *,
    repeated: int | None = None,
) -> tuple[DataFrame, DataFrame]:
    """Split rows into the latest version per business key and the superseded rest.

    ``repeated``: how many keys have more than one version (:func:`count_versions`), when
    known. When it is at most ``BROADCAST_REPEATED``, only those keys' rows are ranked;
    the others pass as they are, so the whole rows are not shuffled and sorted by key (a
    3M-line batch has about 2 % of its lines in several versions: docs/benchmark.md,
    ninth round). Business keys are never null here (every contract requires them).
    """
    if repeated == 0:
        return df, df.limit(0)
    if repeated is None or repeated > BROADCAST_REPEATED:
        ranked = _ranked(df, keys, order)
    else:
        several = _per_key(df, keys).filter(F.col("__n") > 1).select(*keys)
        several = F.broadcast(several)
        ranked = _ranked(df.join(several, keys, "left_semi"), keys, order)
    latest = ranked.filter(F.col("__rank") == 1).drop("__rank").select(*df.columns)
    superseded = ranked.filter(F.col("__rank") > 1).drop("__rank").select(*df.columns)
    if repeated is not None and repeated <= BROADCAST_REPEATED:
        single = df.join(several, keys, "left_anti").select(*df.columns)
        latest = single.unionByName(latest)
    return latest, superseded


def count_versions(df: DataFrame, keys: list[str]) -> tuple[int, int, int]:
    """How many rows :func:`latest_per_key` keeps as latest and as superseded (one per
    key, and the rest), and how many keys have more than one version. Counted by grouping
    on the key, not by ranking (a hash aggregation of the key columns instead of a sort),
    so it checks the ranking's split independently."""
    row = (
        _per_key(df, keys)
        .agg(
            F.count(F.lit(1)).alias("latest"),
            F.sum(F.col("__n") - 1).alias("superseded"),
            F.count_if(F.col("__n") > 1).alias("repeated"),
        )
        .first()
    )
    assert row is not None
    return int(row["latest"]), int(row["superseded"] or 0), int(row["repeated"])


def _per_key(df: DataFrame, keys: list[str]) -> DataFrame:
    """One row per key with its number of rows, ``__n``."""
    return df.groupBy(*keys).agg(F.count(F.lit(1)).alias("__n"))


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
