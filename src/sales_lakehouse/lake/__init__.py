"""All I/O of the lake: Delta tables (``tables``), landing files (``landing``) and the Glue
Data Catalog (``glue_catalog``). The only package that reads or writes storage."""

from sales_lakehouse.lake.tables import Lake, in_dates, in_ranges, in_strings

__all__ = ["Lake", "in_dates", "in_ranges", "in_strings"]
