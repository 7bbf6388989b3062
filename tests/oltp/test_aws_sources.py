"""The order database as the AWS stack uses it: credentials from Secrets Manager.

On AWS the extract job and the fill function get the database's address without
credentials and the ARN of the secret RDS manages (``{"username", "password"}``). Here the
secret lives in the moto server (real HTTP) and the database is the throwaway MariaDB:
the extract job script runs as Glue starts it (Glue's own arguments included), and the fill
function's handler runs as Lambda calls it. The oracle is the database, read with PyMySQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from sales_lakehouse.oltp import handler as fill_function
from sales_lakehouse.oltp.dsn import Dsn
from sales_lakehouse.oltp.fill import FillError, fill
from sales_lakehouse.oltp.secret import SecretError, resolve_dsn
from tests.aws.conftest import moto_endpoint  # noqa: F401  (the session's moto server)
from tests.oltp.conftest import query
from tests.oltp.test_extract import database_rows, latest_state

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def secrets(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:  # noqa: F811
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return boto3.client("secretsmanager", endpoint_url=moto_endpoint)


def rds_secret(secrets: Any, value: dict[str, Any]) -> str:
    """A secret in the layout RDS writes for a managed master password; its ARN."""
    name = f"rds!db-{uuid.uuid4()}"
    return str(secrets.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])


def address(dsn: Dsn) -> str:
    """The DSN the template gives the job and the function: no user, no password."""
    return f"mysql://{dsn.host}:{dsn.port}/{dsn.database}"


class LambdaContext:
    def __init__(self, remaining_seconds: float) -> None:
        self.remaining_ms = int(remaining_seconds * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_fill_function_fills_the_database_with_the_secret_credentials(
    dsn: Dsn, secrets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = rds_secret(secrets, {"username": dsn.user, "password": dsn.password})
    variables = {"OLTP_DSN": address(dsn), "OLTP_SECRET_ARN": arn, "FILL_ORDERS": "30"}
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FILL_RATE", "20")
    monkeypatch.setenv("FILL_DURATION", "240")

    # 240 s of changes would outlive the function: it stops 10 s before its timeout.
    done = fill_function.handler({}, LambdaContext(remaining_seconds=11.0))

    (orders,), (lines,) = (
        query(dsn, "SELECT COUNT(*) FROM orders")[0],
        query(dsn, "SELECT COUNT(*) FROM order_lines")[0],
    )
    assert done["orders"] == orders >= 30
    assert done["lines"] == lines
    assert done["seconds"] < 10.0
    # An event sets what one invocation does (a one-off load, no changes).
    again = fill_function.handler({"orders": 5, "rate": 0}, LambdaContext(60.0))
    assert (again["orders"], again["corrections"], again["cancellations"]) == (5, 0, 0)
    assert query(dsn, "SELECT COUNT(*) FROM orders")[0] == (orders + 5,)


def test_what_one_invocation_does_comes_from_event_and_variables() -> None:
    env = {"FILL_ORDERS": "50", "FILL_RATE": "1", "FILL_DURATION": "240"}
    request = fill_function.fill_request
    assert request({}, env, remaining_seconds=300.0) == fill_function.FillRequest(50, 1.0, 240.0)
    assert request({}, env, remaining_seconds=100.0) == fill_function.FillRequest(50, 1.0, 90.0)
    assert request({"orders": 7, "rate": 0}, env, 300.0) == fill_function.FillRequest(7, 0.0, 0.0)
    assert request(None, {}, None) == fill_function.FillRequest(0, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"^event field 'orders' must not be negative, got -1$"):
        request({"orders": -1}, env, 300.0)
    with pytest.raises(ValueError, match=r"^FILL_RATE must be a number, got 'fast'$"):
        request({}, {**env, "FILL_RATE": "fast"}, 300.0)


def test_a_missing_secret_or_a_wrong_password_is_one_line(
    dsn: Dsn, secrets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SecretError, match=r"^secret no-such-secret cannot be read: "):
        resolve_dsn(address(dsn), "no-such-secret")
    not_json = rds_secret(secrets, {})
    secrets.put_secret_value(SecretId=not_json, SecretString="hunter2")
    with pytest.raises(SecretError, match="is not a JSON object") as error:
        resolve_dsn(address(dsn), not_json)
    assert "hunter2" not in str(error.value)

    wrong = rds_secret(secrets, {"username": dsn.user, "password": "not-the-password"})
    monkeypatch.setenv("OLTP_DSN", address(dsn))
    monkeypatch.setenv("OLTP_SECRET_ARN", wrong)
    with pytest.raises(FillError) as refused:
        fill_function.handler({"orders": 1}, LambdaContext(60.0))
    assert str(refused.value) == (
        f"mysql://{dsn.user}@{dsn.host}:{dsn.port}/{dsn.database}: Access denied for user "
        f"'{dsn.user}'@'127.0.0.1' (using password: YES) (MySQL error 1045)"
    )
    assert "not-the-password" not in str(refused.value)

    # The CLI: one line, exit 1.
    done = subprocess.run(
        [sys.executable, "-m", "sales_lakehouse.runtime.cli", "oltp", "fill",
         "--dsn", address(dsn), "--secret-id", "no-such-secret", "--orders", "1"],
        check=False, capture_output=True, text=True, timeout=120, env=os.environ.copy(),
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "sales-lakehouse oltp: error: secret no-such-secret cannot be read: "
        "ResourceNotFoundException"
    ]


def test_a_secret_with_host_port_and_dbname_needs_no_dsn(dsn: Dsn, secrets: Any) -> None:
    arn = rds_secret(
        secrets,
        {
            "engine": "mysql",
            "username": dsn.user,
            "password": dsn.password,
            "host": dsn.host,
            "port": dsn.port,
            "dbname": dsn.database,
        },
    )
    assert resolve_dsn(None, arn) == dsn
    assert resolve_dsn(address(dsn), arn) == dsn


def test_the_glue_extract_job_lands_the_database_with_the_secret_credentials(
    dsn: Dsn, secrets: Any, tmp_path: Path
) -> None:
    """jobs/extract_oltp.py started as Glue starts it: Glue's own arguments around ours."""
    fill(dsn, orders=40, seed=31)
    arn = rds_secret(secrets, {"username": dsn.user, "password": dsn.password})
    landing = tmp_path / "landing"
    glue_own = [
        *("--JOB_NAME", "dev-sales-extract-oltp", "--JOB_RUN_ID", "jr_1"),
        *(
            "--TempDir",
            "s3://artifacts/glue-temp/",
            "--job-bookmark-option",
            "job-bookmark-disable",
        ),
        *("--enable-metrics", "true", "--job-language", "python"),
    ]
    done = subprocess.run(
        [sys.executable, str(ROOT / "jobs" / "extract_oltp.py"), *glue_own[:4],
         "--dsn", address(dsn), "--secret-id", arn, "--landing", str(landing),
         "--partitions", "2", *glue_own[4:]],
        check=False, capture_output=True, text=True, timeout=600, env=os.environ.copy(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for table in ("orders", "order_lines"):
        assert latest_state(landing, table) == database_rows(dsn, table)
    assert dsn.password not in done.stdout + done.stderr
