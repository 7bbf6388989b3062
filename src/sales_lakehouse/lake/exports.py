"""Plain Parquet copies of a table, for readers that read files, not Delta logs.

SageMaker's training channel copies every object under an S3 prefix; a Delta folder holds
removed files until VACUUM and its log, so the forecast exports a snapshot of
gold.demand_features as plain Parquet instead (``<lake>/forecast/features/``).

In a local folder the export also records the table version it copied (``_SOURCE_VERSION``,
skipped by readers like every ``_`` file), so an unchanged table is not exported again.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame

from sales_lakehouse.config import is_local

MARKER = "_SOURCE_VERSION"


def _marker(path: str) -> Path | None:
    return Path(path.removeprefix("file://")) / MARKER if is_local(path) else None


def export_is_current(path: str, version: int) -> bool:
    """Whether the local export at ``path`` is a copy of table version ``version``."""
    marker = _marker(path)
    return marker is not None and marker.is_file() and marker.read_text().strip() == str(version)


def export_parquet(df: DataFrame, path: str, version: int, files: int = 1) -> None:
    """Replace the Parquet files under ``path`` with ``df`` (table version ``version``) in
    ``files`` files."""
    df.coalesce(files).write.mode("overwrite").parquet(path)
    marker = _marker(path)
    if marker is not None:
        marker.write_text(f"{version}\n")
