"""Synthetic landing data for a technology retailer: products, promotions and sales.

Pure Python (no Spark): :func:`generate_landing` writes deterministic CSVs in the
contract's columns, with a known, reported set of defects the pipeline must catch.
"""

from __future__ import annotations

from sales_lakehouse_tools.generate.landing import generate_landing
from sales_lakehouse_tools.generate.report import DefectEntry, GenerationReport

__all__ = ["DefectEntry", "GenerationReport", "generate_landing"]
