"""The Lambda code must not import pyspark, directly or through anything it imports.

Checked in a fresh interpreter: the test process itself has pyspark loaded by
tests/conftest.py.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import importlib, sys
for module in sys.argv[1:]:
    importlib.import_module(module)
print(sorted({name.split(".")[0] for name in sys.modules} & {"pyspark", "py4j", "delta"}))
"""


def spark_modules_after_importing(*modules: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_lambda_code_imports_no_spark() -> None:
    imported = spark_modules_after_importing(
        "sales_lakehouse.ingest.api_producer",
        "sales_lakehouse.ingest.handler",
        "sales_lakehouse.ingest.notifier",
        "sales_lakehouse.ingest.stream_put",
        "sales_lakehouse.oltp.handler",
    )

    assert imported == "[]"


def test_the_probe_does_see_spark() -> None:
    assert "pyspark" in spark_modules_after_importing("sales_lakehouse.columns")
