"""The reference: what silver and gold should hold, computed with DuckDB from the landing CSVs.

An independent oracle of the Spark pipeline, shared by the bench (its verification) and the
tests (their expected values). It reads the landing files with DuckDB's CSV reader and
applies, in plain SQL, the rules as the README and the contracts in ``schemas/`` state them;
it never calls the pipeline's transforms. Only the contracts' metadata is shared.
"""

from __future__ import annotations

from bench.reference.engine import Reference, ReferenceTimes
from bench.reference.landed import Landed
from bench.reference.marts import (
    DAILY_GRAIN,
    DAILY_MEASURES,
    DAILY_SALES_TYPES,
    FACT_SALES_TYPES,
    SILVER_SALES_TYPES,
)

__all__ = [
    "DAILY_GRAIN",
    "DAILY_MEASURES",
    "DAILY_SALES_TYPES",
    "FACT_SALES_TYPES",
    "SILVER_SALES_TYPES",
    "Landed",
    "Reference",
    "ReferenceTimes",
]
