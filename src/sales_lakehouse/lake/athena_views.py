"""Create the dashboard's views in Athena, in the environment's gold database.

The views are defined once (``sales_lakehouse.dashboard.views``); here each becomes
``CREATE OR REPLACE VIEW <env>_gold.dash_<name> AS …`` run through the stack's Athena
workgroup, which enforces where and how results are written. Athena stores an Athena view
as a Glue table, so the catalog job runs this right after registering the tables the
views read. A view whose tables are not in the catalog yet (a lake without promotions,
say) is skipped with the reason: Athena would refuse it.

boto3 only, no Spark: it runs in the catalog job and in tests against moto.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sales_lakehouse.dashboard.views import VIEW_PREFIX, VIEWS, athena_view_ddl, tables_used
from sales_lakehouse.lake.glue_catalog import database_name

FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")


class ViewError(RuntimeError):
    """Athena did not create a view; the message names the view and Athena's reason."""


@dataclass(frozen=True)
class ViewResult:
    """The outcome for one view: ``created`` (or replaced) or ``skipped``, and why."""

    view: str
    action: str
    detail: str = ""


def view_name(name: str, database_prefix: str) -> str:
    """``<prefix>_gold.dash_<name>``: where view ``name`` lives in Athena."""
    return f"{database_name(database_prefix, 'gold')}.{VIEW_PREFIX}{name}"


def missing_tables(glue: Any, name: str, database_prefix: str) -> list[str]:
    """``database.table`` of every table view ``name`` reads that the catalog lacks."""
    missing = []
    for layer, table in dict.fromkeys(tables_used(name)):
        database = database_name(database_prefix, layer)
        try:
            glue.get_table(DatabaseName=database, Name=table)
        except glue.exceptions.EntityNotFoundException:
            missing.append(f"{database}.{table}")
    return missing


def run_query(
    athena: Any,
    sql: str,
    workgroup: str,
    *,
    poll_seconds: float = 1.0,
    timeout_seconds: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Run ``sql`` in ``workgroup`` and wait until it ends; its final ``Status``.

    Past ``timeout_seconds`` the query is stopped and reported as not finished.
    """
    query_id = athena.start_query_execution(QueryString=sql, WorkGroup=workgroup)[
        "QueryExecutionId"
    ]
    waited = 0.0
    while True:
        status: dict[str, Any] = athena.get_query_execution(QueryExecutionId=query_id)[
            "QueryExecution"
        ]["Status"]
        if status["State"] in FINISHED:
            return status
        if waited >= timeout_seconds:
            athena.stop_query_execution(QueryExecutionId=query_id)
            return {
                "State": "CANCELLED",
                "StateChangeReason": f"still {status['State']} after {timeout_seconds:.0f} s",
            }
        sleep(poll_seconds)
        waited += poll_seconds


def create_views(
    database_prefix: str,
    workgroup: str,
    *,
    athena: Any,
    glue: Any,
    views: Sequence[str] = VIEWS,
    poll_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ViewResult]:
    """Create or replace every dashboard view in ``<prefix>_gold``, in ``views`` order.

    Raises :class:`ViewError` on the first view Athena refuses (the later ones are not
    tried: they would most likely fail the same way, and the job should fail loudly).
    """
    results = []
    for name in views:
        target = view_name(name, database_prefix)
        missing = missing_tables(glue, name, database_prefix)
        if missing:
            results.append(
                ViewResult(target, "skipped", f"not in the catalog: {', '.join(missing)}")
            )
            continue
        ddl = athena_view_ddl(name, database_prefix)
        status = run_query(athena, ddl, workgroup, poll_seconds=poll_seconds, sleep=sleep)
        if status["State"] != "SUCCEEDED":
            reason = status.get("StateChangeReason") or "no reason given"
            raise ViewError(f"view {target}: Athena query {status['State']}: {reason}")
        results.append(ViewResult(target, "created"))
    return results
