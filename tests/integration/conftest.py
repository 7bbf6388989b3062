"""The integration tests share the generated lake of ``tests/generated_lake.py``."""

from __future__ import annotations

from tests.generated_lake import FirstRun

__all__ = ["FirstRun"]
