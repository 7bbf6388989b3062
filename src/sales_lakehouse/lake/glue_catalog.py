"""Register the lake's Delta tables in the Glue Data Catalog as native Delta tables.

Athena (engine v3) reads a Delta table natively when its Glue entry is an
``EXTERNAL_TABLE`` with ``table_type=DELTA`` and the table folder as location; it takes
the schema from ``_delta_log``, not from the catalog. Spark's ``saveAsTable`` writes
entries Athena cannot read, so this module writes the entries itself, with boto3 only
(no Spark): it runs as the last, cheap step of the Glue workflow and in tests against moto.

Columns are copied from the newest ``metaData`` action in the table's JSON commits, so
the catalog shows a useful schema to humans and tools. If that newest metadata exists
only in a checkpoint (Parquet; the JSON commits holding it were cleaned up) the table is
registered without columns: reading Parquet would need a dependency this Spark-free step
does not have, and Athena does not need the columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sales_lakehouse.config import LAYERS

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(\.\d+\.\d+)?\.parquet$")
_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
# Delta primitive type names -> Hive type names (the spelling Glue and Athena expect).
_PRIMITIVES = {
    "string": "string",
    "long": "bigint",
    "integer": "int",
    "short": "smallint",
    "byte": "tinyint",
    "float": "float",
    "double": "double",
    "boolean": "boolean",
    "binary": "binary",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp_ntz": "timestamp",
    "decimal": "decimal(10,0)",
}
DELTA_PARAMETERS = {
    "table_type": "DELTA",
    "classification": "delta",
    "EXTERNAL": "TRUE",
    "spark.sql.sources.provider": "delta",
}


class Storage(Protocol):
    """Read access to a lake root: S3 through boto3, or a local folder (tests, local runs)."""

    def folders(self, path: str) -> list[str]:
        """Names of the sub-folders of ``path`` (relative to the root)."""

    def files(self, path: str) -> list[str]:
        """Names of the files directly in ``path``."""

    def read_text(self, path: str) -> str:
        """The UTF-8 text of the file at ``path``."""

    def uri(self, path: str) -> str:
        """The location readers use for ``path``: ``s3://…`` or ``file://…``."""


class S3Storage:
    """A lake root ``s3://bucket/prefix`` (``s3a://`` accepted) read with an S3 client."""

    def __init__(self, s3: Any, root: str) -> None:
        self._s3 = s3
        self.bucket, _, prefix = root.split("://", 1)[1].partition("/")
        self.prefix = prefix.strip("/")

    def _key(self, path: str) -> str:
        return "/".join(part for part in (self.prefix, path.strip("/")) if part)

    def _list(self, path: str) -> tuple[list[str], list[str]]:
        prefix = self._key(path) + "/"
        folders: list[str] = []
        files: list[str] = []
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        )
        for page in pages:
            folders += [
                p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])
            ]
            files += [o["Key"][len(prefix) :] for o in page.get("Contents", [])]
        return folders, files

    def folders(self, path: str) -> list[str]:
        return self._list(path)[0]

    def files(self, path: str) -> list[str]:
        return self._list(path)[1]

    def read_text(self, path: str) -> str:
        body = self._s3.get_object(Bucket=self.bucket, Key=self._key(path))["Body"]
        return str(body.read().decode("utf-8"))

    def uri(self, path: str) -> str:
        return f"s3://{self.bucket}/{self._key(path)}"


class LocalStorage:
    """A lake root that is a local folder."""

    def __init__(self, root: str) -> None:
        self.root = Path(root.removeprefix("file://")).expanduser().resolve()

    def folders(self, path: str) -> list[str]:
        folder = self.root / path
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def files(self, path: str) -> list[str]:
        folder = self.root / path
        return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []

    def read_text(self, path: str) -> str:
        return (self.root / path).read_text(encoding="utf-8")

    def uri(self, path: str) -> str:
        return (self.root / path).as_uri()


def storage_for(lake: str, s3: Any = None) -> Storage:
    """The storage of a lake root: S3 for ``s3://``/``s3a://`` (needs ``s3``), else local."""
    if lake.startswith(("s3://", "s3a://", "s3n://")):
        if s3 is None:
            raise ValueError(f"an S3 client is needed to read {lake}")
        return S3Storage(s3, lake)
    return LocalStorage(lake)


def hive_type(delta_type: Any) -> str:
    """The Hive type string for a Delta schema type (a name or a nested JSON object)."""
    if isinstance(delta_type, str):
        if delta_type in _PRIMITIVES:
            return _PRIMITIVES[delta_type]
        match = _DECIMAL.match(delta_type)
        if match:
            return f"decimal({match[1]},{match[2]})"
        raise ValueError(f"unsupported Delta type {delta_type!r}")
    kind = delta_type.get("type")
    if kind == "array":
        return f"array<{hive_type(delta_type['elementType'])}>"
    if kind == "map":
        return f"map<{hive_type(delta_type['keyType'])},{hive_type(delta_type['valueType'])}>"
    if kind == "struct":
        fields = ",".join(f"{f['name']}:{hive_type(f['type'])}" for f in delta_type["fields"])
        return f"struct<{fields}>"
    raise ValueError(f"unsupported Delta type {delta_type!r}")


@dataclass(frozen=True)
class DeltaMetadata:
    """What the catalog needs from a table's log; ``columns`` is None when unknown."""

    version: int
    columns: list[dict[str, str]] | None
    partition_keys: list[dict[str, str]]


def _glue_columns(schema_string: str, partitions: Sequence[str]) -> tuple[list[Any], list[Any]]:
    """(columns, partition keys) as Glue ``Column`` dicts from a Delta ``schemaString``."""
    columns = []
    by_name = {}
    for field in json.loads(schema_string)["fields"]:
        column = {"Name": field["name"], "Type": hive_type(field["type"])}
        comment = (field.get("metadata") or {}).get("comment")
        if comment:
            column["Comment"] = str(comment)
        by_name[field["name"]] = column
        if field["name"] not in partitions:
            columns.append(column)
    return columns, [by_name[name] for name in partitions]


def read_delta_metadata(storage: Storage, table_path: str) -> DeltaMetadata | None:
    """The newest table metadata from ``<table_path>/_delta_log``; None if there is no log.

    The JSON commits are scanned newest first, over the unbroken run of versions that
    ends at the newest one (log clean-up removes the oldest commits, never middle ones).
    The first ``metaData`` action found is the current one. If none is found and a
    checkpoint exists, the metadata lives only in that Parquet file: columns are None.
    """
    log = f"{table_path}/_delta_log"
    names = storage.files(log)
    commits = sorted((int(m[1]) for m in map(_COMMIT.match, names) if m), reverse=True)
    checkpoints = [int(m[1]) for m in map(_CHECKPOINT.match, names) if m]
    if not commits and not checkpoints:
        return None
    newest = max(commits[:1] + checkpoints)
    expected = commits[0] if commits else -1
    for version in commits:
        if version != expected:
            break
        expected -= 1
        for line in storage.read_text(f"{log}/{version:020d}.json").splitlines():
            action = json.loads(line) if line.strip() else {}
            if "metaData" in action:
                meta = action["metaData"]
                partitions = list(meta.get("partitionColumns") or [])
                columns, keys = _glue_columns(meta["schemaString"], partitions)
                return DeltaMetadata(newest, columns, keys)
    if checkpoints:
        return DeltaMetadata(newest, None, [])
    raise ValueError(f"{storage.uri(log)} has commits but no metaData action")


@dataclass(frozen=True)
class Registration:
    """The outcome for one table: ``created``, ``updated`` or ``missing`` (no Delta log)."""

    database: str
    table: str
    location: str
    action: str
    columns: int | None = None


def table_input(name: str, location: str, metadata: DeltaMetadata) -> dict[str, Any]:
    """The Glue ``TableInput`` of a native Delta table (what Athena reads)."""
    storage: dict[str, Any] = {
        "Location": location,
        # Spark reading through the Glue catalog finds a data-source table's folder here.
        "SerdeInfo": {"Parameters": {"path": location}},
    }
    if metadata.columns is not None:
        storage["Columns"] = metadata.columns
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": dict(DELTA_PARAMETERS),
        "StorageDescriptor": storage,
        "PartitionKeys": metadata.partition_keys,
    }


def ensure_database(glue: Any, database: str, location: str) -> None:
    """Create the Glue database with a ``LocationUri`` unless it exists."""
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(
            DatabaseInput={
                "Name": database,
                "LocationUri": location,
                "Description": "sales-lakehouse Delta tables (registered by register_catalog)",
            }
        )


def upsert_table(glue: Any, database: str, table: dict[str, Any]) -> str:
    """Create the table, or update it when it exists; returns ``created`` or ``updated``."""
    try:
        glue.create_table(DatabaseName=database, TableInput=table)
        return "created"
    except glue.exceptions.AlreadyExistsException:
        glue.update_table(DatabaseName=database, TableInput=table)
        return "updated"


def register_delta_tables(
    lake: str,
    database: str,
    tables: Sequence[tuple[str, str]],
    *,
    glue: Any,
    s3: Any = None,
    database_location: str | None = None,
) -> list[Registration]:
    """Create or update a Glue entry in ``database`` for each ``(layer, table)`` of the lake.

    The Glue table is named ``table``; two layers giving the same name in one database is
    an error. A table without a Delta log yet is reported as ``missing`` and skipped.
    Calling again updates the entries (idempotent). The database is created when missing,
    with ``database_location`` (default: the lake root) as its ``LocationUri``.
    """
    names = [name for _, name in tables]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise ValueError(f"tables of several layers share names in {database}: {clashes}")
    storage = storage_for(lake, s3)
    ensure_database(glue, database, database_location or storage.uri(""))
    results = []
    for layer, name in tables:
        path = f"{layer}/{name}"
        location = storage.uri(path)
        metadata = read_delta_metadata(storage, path)
        if metadata is None:
            results.append(Registration(database, name, location, "missing"))
            continue
        action = upsert_table(glue, database, table_input(name, location, metadata))
        count = None if metadata.columns is None else len(metadata.columns)
        results.append(Registration(database, name, location, action, count))
    return results


def discover_tables(storage: Storage, layers: Iterable[str] = LAYERS) -> list[tuple[str, str]]:
    """Every ``(layer, table)`` folder under the lake root that holds a ``_delta_log``."""
    return [
        (layer, name)
        for layer in layers
        for name in storage.folders(layer)
        if "_delta_log" in storage.folders(f"{layer}/{name}")
    ]


def database_name(prefix: str, layer: str) -> str:
    """The Glue database of a layer: ``<prefix>_<layer>`` (``<layer>`` without a prefix)."""
    return f"{prefix}_{layer}" if prefix else layer


def register_lake(
    lake: str,
    database_prefix: str,
    tables: Sequence[tuple[str, str]] | None = None,
    *,
    glue: Any,
    s3: Any = None,
) -> list[Registration]:
    """Register ``tables`` (default: every Delta table found) in one database per layer."""
    storage = storage_for(lake, s3)
    wanted = list(tables) if tables is not None else discover_tables(storage)
    results: list[Registration] = []
    for layer in dict.fromkeys(layer for layer, _ in wanted):
        results += register_delta_tables(
            lake,
            database_name(database_prefix, layer),
            [item for item in wanted if item[0] == layer],
            glue=glue,
            s3=s3,
            database_location=storage.uri(layer),
        )
    return results
