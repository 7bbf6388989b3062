"""A contract's rules as DuckDB SQL: strict typing, column rules, row rules, latest version.

Written from the README ("Silver": ``12.5`` is not an integer, ``1e3`` is not a price,
``2025-02-30`` is not a date, ``10.555`` does not fit ``decimal(12,2)``; empty means null;
the file whose name sorts last wins) and the contracts in ``schemas/``. Only the contract's
metadata is shared with the pipeline, never its code.
"""

from __future__ import annotations

from sales_lakehouse.contracts import Column, Contract

INTEGER = r"^[+-]?[0-9]+$"
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
SQL_TYPES = {"int": "INTEGER", "long": "BIGINT", "date": "DATE", "timestamp": "TIMESTAMPTZ"}


def literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def sql_type(type_name: str) -> str:
    if type_name.startswith("decimal"):
        return type_name.upper()
    return SQL_TYPES.get(type_name, "VARCHAR")


def _pattern(column: Column) -> str | None:
    """The text shape a landed value must have before it is cast (None: any string)."""
    if column.type.startswith("decimal"):
        precision, scale = column.decimal_precision or (18, 2)
        fraction = rf"(\.[0-9]{{1,{scale}}})?" if scale else ""
        return rf"^[+-]?[0-9]{{1,{precision - scale}}}{fraction}$"
    return {"int": INTEGER, "long": INTEGER, "date": DATE, "timestamp": TIMESTAMP}.get(column.type)


def typed(column: Column, raw: str) -> str:
    """SQL of a column's typed value: null unless the text has the type's shape and casts."""
    shape = _pattern(column)
    if shape is None:
        return raw
    return (
        f"CASE WHEN regexp_matches({raw}, {literal(shape)}) "
        f"THEN TRY_CAST({raw} AS {sql_type(column.type)}) END"
    )


def _value(column: Column, defaults: dict[str, str]) -> str:
    """Typed value, or the column's default when nothing was landed."""
    raw = f'"__raw_{column.name}"'
    value = typed(column, raw)
    default = defaults.get(column.name, column.default)
    if default is None:
        return value
    return f"CASE WHEN {raw} IS NULL THEN {typed(column, literal(default))} ELSE {value} END"


def column_failures(column: Column) -> list[str]:
    """SQL conditions under which a row breaks one of the column's rules."""
    name, raw = f'"{column.name}"', f'"__raw_{column.name}"'
    fails = [f"({raw} IS NOT NULL AND {name} IS NULL)"]
    if column.required:
        fails.append(f"{raw} IS NULL")
    if column.min is not None:
        fails.append(f"{name} < {column.min}")
    if column.max is not None:
        fails.append(f"{name} > {column.max}")
    if column.allowed is not None:
        fails.append(f"{name} NOT IN ({', '.join(literal(v) for v in column.allowed)})")
    if column.pattern is not None:
        fails.append(f"NOT regexp_matches({name}, {literal(column.pattern)})")
    return [f"COALESCE({fail}, FALSE)" for fail in fails]


def accepted_sql(contract: Contract, source: str, defaults: dict[str, str]) -> str:
    """The rows of ``source`` (text columns + file_name) no quarantine rule rejects, typed,
    latest file first per business key, one row per key."""
    cleaned = ", ".join(f'NULLIF(trim("{n}"), \'\') AS "__raw_{n}"' for n in contract.column_names)
    values = ", ".join(f'{_value(c, defaults)} AS "{c.name}"' for c in contract.columns)
    fails = [fail for column in contract.columns for fail in column_failures(column)]
    rules = [
        f"COALESCE(NOT ({rule.expr}), FALSE)" for rule in contract.rules if rule.action != "warn"
    ]
    keys = ", ".join(f'"{k}"' for k in contract.business_key)
    return f"""
        WITH cleaned AS (SELECT {cleaned}, file_name FROM {source}),
        typed AS (SELECT *, {values} FROM cleaned)
        SELECT * EXCLUDE ({", ".join(f'"__raw_{n}"' for n in contract.column_names)})
        FROM typed
        WHERE NOT ({" OR ".join(fails + rules)})
        QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY file_name DESC) = 1
    """
