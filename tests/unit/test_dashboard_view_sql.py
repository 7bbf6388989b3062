"""The dashboard views' SQL stays in the part both engines read the same way.

Spark SQL runs the views locally and Athena (Trino, engine v3) on AWS. Without a SQL
parser for both dialects here (none is a dependency), this checks the constructs that
differ between them: identifier quoting (backticks in Spark, double quotes in Trino),
casts with ``::``, date arithmetic and engine-specific functions, and column names that
Trino reserves and would refuse unquoted
(https://trino.io/docs/current/language/reserved.html). That Athena runs each view is not
shown: nothing here runs on a real account.
"""

from __future__ import annotations

import re

import pytest

from sales_lakehouse.contracts import output_columns
from sales_lakehouse.dashboard.views import VIEWS, athena_view_ddl, view_text
from sales_lakehouse.quality.results import RESULT_COLUMNS

# Functions with the same name, arguments and result in Spark SQL and Trino.
COMMON_FUNCTIONS = {"SUM", "AVG", "MIN", "MAX", "COUNT"}
# Words followed by "(" that are syntax, not calls.
SYNTAX = {"OVER", "IN", "FROM", "AS", "AND", "OR", "NOT", "EXISTS"}
# Trino's reserved keywords (Trino documentation, "Reserved keywords").
TRINO_RESERVED = {
    "ALTER",
    "AND",
    "AS",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CUBE",
    "CURRENT_CATALOG",
    "CURRENT_DATE",
    "CURRENT_PATH",
    "CURRENT_ROLE",
    "CURRENT_SCHEMA",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "DEALLOCATE",
    "DELETE",
    "DESCRIBE",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "ESCAPE",
    "EXCEPT",
    "EXECUTE",
    "EXISTS",
    "EXTRACT",
    "FALSE",
    "FOR",
    "FROM",
    "FULL",
    "GROUP",
    "GROUPING",
    "HAVING",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTO",
    "IS",
    "JOIN",
    "JSON_ARRAY",
    "JSON_EXISTS",
    "JSON_OBJECT",
    "JSON_QUERY",
    "JSON_TABLE",
    "JSON_VALUE",
    "LEFT",
    "LIKE",
    "LISTAGG",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "NATURAL",
    "NORMALIZE",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "PREPARE",
    "RECURSIVE",
    "RIGHT",
    "ROLLUP",
    "SELECT",
    "SKIP",
    "TABLE",
    "THEN",
    "TRIM",
    "TRUE",
    "UESCAPE",
    "UNION",
    "UNNEST",
    "USING",
    "VALUES",
    "WHEN",
    "WHERE",
    "WITH",
}
FORBIDDEN = {
    "`": "a Spark-quoted identifier",
    '"': "a Trino-quoted identifier",
    "::": "a PostgreSQL-style cast",
    ";": "a statement separator (Athena takes one statement)",
}


def _body(name: str) -> str:
    """The view's SQL without its comment lines."""
    lines = view_text(name).splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("--"))


def _column_names() -> set[str]:
    names = {c.name for columns in output_columns("gold").values() for c in columns}
    return names | {name for name, _ in RESULT_COLUMNS}


@pytest.mark.parametrize("name", VIEWS)
def test_view_uses_only_syntax_both_engines_share(name: str) -> None:
    body = _body(name)
    found = [what for token, what in FORBIDDEN.items() if token in body]
    assert found == [], f"{name} uses {found}"
    assert not re.search(r"\bINTERVAL\b|\bdate_(add|sub|diff)\b", body, re.IGNORECASE), name
    calls = {m.upper() for m in re.findall(r"\b(\w+)\s*\(", body)} - SYNTAX
    assert calls <= COMMON_FUNCTIONS, f"{name} calls {sorted(calls - COMMON_FUNCTIONS)}"


@pytest.mark.parametrize("name", VIEWS)
def test_view_names_no_column_trino_reserves(name: str) -> None:
    body = _body(name)
    aliases = set(re.findall(r"\bAS\s+(\w+)", body, re.IGNORECASE))
    columns = {w for w in re.findall(r"\b\w+\b", body) if w in _column_names()}
    reserved = sorted(n for n in aliases | columns if n.upper() in TRINO_RESERVED)
    assert reserved == [], f"{name}: {reserved} must be quoted in Trino"


def test_athena_ddl_names_the_environment_databases() -> None:
    ddl = athena_view_ddl("quarantine_by_rule", "prod")
    assert ddl.startswith("CREATE OR REPLACE VIEW prod_gold.dash_quarantine_by_rule AS\nSELECT")
    assert "FROM prod_quality.dq_results" in ddl
    assert "${" not in ddl and "--" not in ddl
