"""The dashboard's views: one SQL definition each, run by Spark SQL locally and created as
Athena views on AWS.

Each ``views/<name>.sql`` is a ``SELECT`` over the gold marts (``${gold}.<table>``) or the
quality results (``${quality}.dq_results``), written in the SQL both engines read the
same way: no engine-specific functions, no quoted identifiers, no date arithmetic (the
page filters dates with ``DATE 'YYYY-MM-DD'`` literals when it queries a view). Locally
the placeholders become Delta paths (``delta.`<lake>/gold/<table>```); on AWS the
environment's Glue databases (``<env>_gold``), and the view is created in the gold
database as ``dash_<name>``.

No Spark here: the catalog job and the tests read the definitions too.
"""

from __future__ import annotations

import re
from importlib import resources

VIEW_PREFIX = "dash_"
# The views in the order the page uses them.
VIEWS: tuple[str, ...] = (
    "daily_kpis",
    "sales_by_store_category",
    "sales_by_product",
    "promotion_results",
    "quarantine_by_rule",
    "data_freshness",
)
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}\.(\w+)")
PLACEHOLDERS = ("gold", "quality")


def view_text(name: str) -> str:
    """The SQL file of view ``name``, as written (placeholders in it)."""
    if name not in VIEWS:
        raise ValueError(f"no dashboard view {name!r}; the views are {', '.join(VIEWS)}")
    return (resources.files(__package__) / "views" / f"{name}.sql").read_text(encoding="utf-8")


def tables_used(name: str) -> list[tuple[str, str]]:
    """(layer, table) of every table view ``name`` reads, in order of appearance."""
    return [(layer, table) for layer, table in _PLACEHOLDER.findall(view_text(name))]


def view_sql(name: str, tables: dict[str, str]) -> str:
    """View ``name``'s SELECT with each ``${layer}.table`` replaced by ``tables[layer.table]``.

    ``tables`` maps ``"gold.fact_sales"`` (layer and table) to what the engine calls it: a
    Delta path for Spark, ``<env>_gold.fact_sales`` for Athena.
    """

    def replace(match: re.Match[str]) -> str:
        key = f"{match.group(1)}.{match.group(2)}"
        if match.group(1) not in PLACEHOLDERS or key not in tables:
            raise ValueError(
                f"view {name}: no table given for ${{{match.group(1)}}}.{match.group(2)}"
            )
        return tables[key]

    body = "\n".join(
        line for line in view_text(name).splitlines() if not line.lstrip().startswith("--")
    )
    return _PLACEHOLDER.sub(replace, body).strip()


def athena_view_ddl(name: str, database_prefix: str) -> str:
    """``CREATE OR REPLACE VIEW <prefix>_gold.dash_<name> AS …`` for Athena."""
    tables = {
        f"{layer}.{table}": f"{database_prefix}_{layer}.{table}"
        for layer, table in tables_used(name)
    }
    return f"CREATE OR REPLACE VIEW {database_prefix}_gold.{VIEW_PREFIX}{name} AS\n" + view_sql(
        name, tables
    )
