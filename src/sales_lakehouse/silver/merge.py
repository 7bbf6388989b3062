"""How a staged batch meets the stored silver table: which rows the MERGE changes, what the
table holds afterwards, and which stored values a MERGE can be limited to.

Pure: DataFrames in, DataFrames or Column conditions out. A condition compares two versions
of a row through their column references (``new("x")``, ``old("x")``), so the same
condition serves a join here and a MERGE in ``lake.tables`` without either knowing the
other's aliases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.contracts import Contract
from sales_lakehouse.silver.common import INGEST_ORDER, ROW_HASH

ColumnOf = Callable[[str], Column]
Condition = Callable[[ColumnOf, ColumnOf], Column]


def newer(order: Sequence[str] = INGEST_ORDER) -> Condition:
    """True when the new row is a newer version than the old one: the ``order`` columns
    compared left to right (as :func:`silver.common.latest_first` sorts); none may be null."""
    if not order:
        raise ValueError("a version order needs at least one column")
    head, *rest = order

    def condition(new: ColumnOf, old: ColumnOf) -> Column:
        later = new(head) > old(head)
        if not rest:
            return later
        return later | ((new(head) == old(head)) & newer(rest)(new, old))

    return condition


def newer_and_different(order: Sequence[str] = INGEST_ORDER) -> Condition:
    """A stored row is replaced only by a newer version with other values."""
    is_newer = newer(order)

    def condition(new: ColumnOf, old: ColumnOf) -> Column:
        return (new(ROW_HASH) != old(ROW_HASH)) & is_newer(new, old)

    return condition


def scd2_changed(new: ColumnOf, old: ColumnOf) -> Column:
    """An SCD2 version row changes when its values or its validity changed."""
    return (
        (new(ROW_HASH) != old(ROW_HASH))
        | (new("valid_to") != old("valid_to"))
        | (new("is_current") != old("is_current"))
        | (new("version_number") != old("version_number"))
    )


def _side(alias: str) -> ColumnOf:
    return lambda name: F.col(f"{alias}.`{name}`")


def changed_rows(
    latest: DataFrame, existing: DataFrame, keys: list[str], order: Sequence[str] = INGEST_ORDER
) -> DataFrame:
    """Rows of ``latest`` that are new keys, or newer (by ``order``) and different from the
    stored version: what the MERGE will write."""
    stored = existing.select(*keys, *order, ROW_HASH).alias("stored")
    new, old = _side("new"), _side("stored")
    on = [new(key) == old(key) for key in keys]
    joined = latest.alias("new").join(stored, on, how="left")
    keep = old(ROW_HASH).isNull() | newer_and_different(order)(new, old)
    return joined.filter(keep).select("new.*")


def table_after(existing: DataFrame, staged: DataFrame, contract: Contract) -> DataFrame:
    """The contract columns the table will hold once ``staged`` is merged into ``existing``:
    stored rows whose key is not staged, plus the staged rows. What table-level checks
    (unique, referential, freshness) judge before anything is committed."""
    keys, columns = list(contract.business_key), contract.column_names
    kept = existing.select(*columns).join(staged.select(*keys), keys, how="left_anti")
    return kept.unionByName(staged.select(*columns))


def touched_values(staged: DataFrame, stored: DataFrame, keys: list[str], column: str) -> DataFrame:
    """The distinct values of ``column`` (a partition column) a MERGE of ``staged`` rows
    into ``stored`` touches: the staged rows' values and the stored values of their keys.

    A correction may move a row to another value (a sale line's ``order_ts`` changes its
    ``sale_date``): its stored row is then under the old value, and a MERGE limited to the
    new values would not find it and would insert the key a second time.
    """
    previous = stored.join(staged.select(*keys), keys, how="left_semi")
    return staged.select(column).unionByName(previous.select(column)).distinct()


def within_dates(column: str, values: Iterable[date | None]) -> Condition | None:
    """A MERGE limit to the stored rows whose ``column`` is one of ``values`` (None: null);
    None for no values (an empty batch)."""
    values = list(values)
    if not values:
        return None
    known = sorted(value for value in values if value is not None)

    def condition(_new: ColumnOf, old: ColumnOf) -> Column:
        parts = [old(column).isin(known)] if known else []
        if len(known) < len(values):
            parts.append(old(column).isNull())
        result = parts[0]
        for part in parts[1:]:
            result = result | part
        return result

    return condition
