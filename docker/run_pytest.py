"""Run pytest inside a spark-submit driver, so the tests use the Glue image's Spark and Delta.

``build_session`` reuses the session spark-submit started (``PYSPARK_GATEWAY_PORT`` is
set) instead of starting a local one that would fetch Delta 3.3.2 from Maven Central next
to the image's Delta 3.3.0. Usage (from docker/compose.yaml):
``docker/spark-submit-delta.sh docker/run_pytest.py [PYTEST ARGS]``.
"""

from __future__ import annotations

import sys

import pytest

if __name__ == "__main__":
    sys.exit(pytest.main(sys.argv[1:]))
