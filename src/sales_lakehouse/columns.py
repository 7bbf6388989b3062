"""Column helpers: functions that take and return Spark Columns (no DataFrames).

Parsing is strict on purpose: Spark's lenient casts would turn ``12.5`` into the integer
12, ``2025`` into a timestamp and ``1e3`` into a price. A value that is not written the
way the landing contract says becomes null here and is reported by the type check.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from sales_lakehouse.contracts import spark_type

AMOUNT_TYPE = "decimal(18,2)"

_INTEGER = r"^[+-]?[0-9]+$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
_BOOLEAN = r"^(?i)(true|false)$"


def decimal_pattern(precision: int, scale: int) -> str:
    """A plain decimal with at most ``precision - scale`` integer and ``scale`` fraction digits."""
    whole = precision - scale
    fraction = rf"(\.[0-9]{{1,{scale}}})?" if scale else ""
    return rf"^[+-]?[0-9]{{1,{whole}}}{fraction}$"


def parse_value(value: Column, type_name: str) -> Column:
    """Parse a trimmed landing string into the contract type; null when it does not parse."""
    target = spark_type(type_name)
    if type_name == "string":
        return value
    if type_name.startswith("decimal"):
        precision, scale = target.precision, target.scale  # type: ignore[attr-defined]
        pattern = decimal_pattern(precision, scale)
    else:
        pattern = {
            "int": _INTEGER,
            "long": _INTEGER,
            "date": _DATE,
            "timestamp": _TIMESTAMP,
            "boolean": _BOOLEAN,
        }[type_name]
    return F.when(value.rlike(pattern), value.cast(target))


def clean_string(value: Column) -> Column:
    """Trim surrounding blanks; an empty or blank field means no value."""
    trimmed = F.trim(value)
    return F.when(trimmed != F.lit(""), trimmed)


def gross_amount(quantity: Column, unit_price: Column) -> Column:
    """quantity x unit_price, exact, as an amount."""
    return (quantity.cast("decimal(10,0)") * unit_price).cast(AMOUNT_TYPE)


def net_amount(gross: Column, discount: Column) -> Column:
    """gross - discount, exact, as an amount."""
    return (gross - discount).cast(AMOUNT_TYPE)


def row_hash(columns: list[str]) -> Column:
    """A stable fingerprint of the given columns' values (nulls distinguished from '')."""
    parts = [F.coalesce(F.col(name).cast("string"), F.lit("\u0000")) for name in columns]
    return F.sha2(F.concat_ws("\u0001", *parts), 256)
