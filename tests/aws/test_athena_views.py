"""The dashboard's Athena views, created by the catalog job, against the moto server.

moto's Athena records the queries it is sent but runs no SQL (every query succeeds), so
these tests show what the job sends, in which order and through which workgroup, and
that a view whose tables are not in the catalog is skipped. Whether Athena accepts each
view's SQL is not shown here: nothing runs on a real account in this project.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest

from sales_lakehouse.dashboard.views import VIEWS, athena_view_ddl, tables_used
from sales_lakehouse.lake.athena_views import ViewError, create_views, run_query
from tests.aws.conftest import Aws
from tests.aws.test_glue_catalog import _first_commit, _put

pytestmark = pytest.mark.aws


def _catalog(aws: Aws, prefix: str, *, without: tuple[str, ...] = ()) -> None:
    """Glue databases and bare tables for every table the views read, but ``without``."""
    glue = aws.client("glue")
    for layer, table in sorted({t for name in VIEWS for t in tables_used(name)}):
        database = f"{prefix}_{layer}"
        with contextlib.suppress(glue.exceptions.AlreadyExistsException):
            glue.create_database(DatabaseInput={"Name": database})
        if f"{layer}.{table}" not in without:
            glue.create_table(DatabaseName=database, TableInput={"Name": table})


def _workgroup(aws: Aws) -> str:
    name = f"wg-{uuid.uuid4().hex[:8]}"
    aws.client("athena").create_work_group(Name=name, Configuration={})
    return name


def _sent(aws: Aws, workgroup: str) -> list[dict[str, Any]]:
    """The query executions of ``workgroup``, in the order they were started."""
    athena = aws.client("athena")
    ids = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]


def test_every_view_is_created_in_order_through_the_workgroup(aws: Aws) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    _catalog(aws, prefix)
    workgroup = _workgroup(aws)

    results = create_views(
        prefix, workgroup, athena=aws.client("athena"), glue=aws.client("glue"), poll_seconds=0
    )

    assert [(r.view, r.action) for r in results] == [
        (f"{prefix}_gold.dash_{name}", "created") for name in VIEWS
    ]
    sent = _sent(aws, workgroup)
    assert [q["Query"] for q in sent] == [athena_view_ddl(name, prefix) for name in VIEWS]
    assert {q["WorkGroup"] for q in sent} == {workgroup}
    assert {q["Status"]["State"] for q in sent} == {"SUCCEEDED"}
    first = sent[0]["Query"]
    assert first.startswith(f"CREATE OR REPLACE VIEW {prefix}_gold.dash_daily_kpis AS\nSELECT")
    assert f"FROM {prefix}_gold.daily_sales" in first


def test_a_view_whose_table_is_not_registered_is_skipped(aws: Aws) -> None:
    """A lake without promotions: no promotion_performance table, so no promotion view."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    _catalog(aws, prefix, without=("gold.promotion_performance",))
    workgroup = _workgroup(aws)

    results = create_views(
        prefix, workgroup, athena=aws.client("athena"), glue=aws.client("glue"), poll_seconds=0
    )

    skipped = [(r.view, r.detail) for r in results if r.action == "skipped"]
    assert skipped == [
        (
            f"{prefix}_gold.dash_promotion_results",
            f"not in the catalog: {prefix}_gold.promotion_performance",
        )
    ]
    created = [name for name in VIEWS if name != "promotion_results"]
    assert [q["Query"] for q in _sent(aws, workgroup)] == [
        athena_view_ddl(name, prefix) for name in created
    ]


class _Athena:
    """An Athena client whose queries end in ``state`` after one RUNNING answer."""

    def __init__(self, state: str, reason: str = "", finish: bool = True) -> None:
        self.state, self.reason, self.finish = state, reason, finish
        self.started: list[tuple[str, str]] = []
        self.stopped: list[str] = []
        self.polls = 0

    def start_query_execution(self, QueryString: str, WorkGroup: str) -> dict[str, str]:  # noqa: N803
        self.started.append((QueryString, WorkGroup))
        return {"QueryExecutionId": f"q{len(self.started)}"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:  # noqa: N803
        self.polls += 1
        state = self.state if self.finish and self.polls > 1 else "RUNNING"
        status = {"State": state, "StateChangeReason": self.reason}
        return {"QueryExecution": {"Status": status}}

    def stop_query_execution(self, QueryExecutionId: str) -> None:  # noqa: N803
        self.stopped.append(QueryExecutionId)


def test_a_refused_view_fails_with_the_view_and_athenas_reason(aws: Aws) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    _catalog(aws, prefix)
    athena = _Athena("FAILED", "line 12:5: Column 'net_amount' cannot be resolved")
    naps: list[float] = []

    with pytest.raises(ViewError) as raised:
        create_views(prefix, "wg", athena=athena, glue=aws.client("glue"), sleep=naps.append)

    assert str(raised.value) == (
        f"view {prefix}_gold.dash_daily_kpis: Athena query FAILED: "
        "line 12:5: Column 'net_amount' cannot be resolved"
    )
    assert len(athena.started) == 1 and naps == [1.0]


def test_a_query_that_does_not_finish_is_stopped() -> None:
    athena = _Athena("SUCCEEDED", finish=False)

    status = run_query(
        athena, "SELECT 1", "wg", poll_seconds=10, timeout_seconds=30, sleep=lambda _: None
    )

    assert status == {"State": "CANCELLED", "StateChangeReason": "still RUNNING after 30 s"}
    assert athena.stopped == ["q1"]


def test_register_catalog_job_creates_the_views_it_can(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only gold.daily_sales is in the lake: its view is created, the others are skipped."""
    from jobs.register_catalog import main

    bucket = aws.bucket()
    _put(aws, bucket, "lake/gold/daily_sales/_delta_log/00000000000000000000.json", _first_commit())
    prefix = f"t{uuid.uuid4().hex[:8]}"
    workgroup = _workgroup(aws)
    argv = ["register_catalog.py", "--lake", f"s3://{bucket}/lake", "--database-prefix", prefix]
    argv += ["--athena-workgroup", workgroup, "--endpoint-url", aws.endpoint]

    assert main([*argv, "--JOB_NAME", "register"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert f"created  {prefix}_gold.daily_sales  s3://{bucket}/lake/gold/daily_sales" in lines
    assert f"created  {prefix}_gold.dash_daily_kpis" in lines
    assert (
        f"skipped  {prefix}_gold.dash_sales_by_product  not in the catalog: "
        f"{prefix}_gold.fact_sales" in lines
    )
    assert [q["Query"] for q in _sent(aws, workgroup)] == [athena_view_ddl("daily_kpis", prefix)]
