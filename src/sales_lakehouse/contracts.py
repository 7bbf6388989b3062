"""Data contracts: the single source of column names, types, keys and row rules.

The contracts live as YAML files in ``schemas/`` (shipped inside the wheel as
``sales_lakehouse/schemas``). Everything else — Spark schemas, the landing CSV columns,
validation rules, the sample-data generator — is derived from them here, so a column is
declared exactly once. This module imports no Spark at module level: the Lambda
ingest code uses it too.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from pyspark.sql import types as T

DATASETS: tuple[str, ...] = ("sales", "products", "promotions")

_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
_SIMPLE_TYPES = {"string", "int", "long", "double", "date", "timestamp", "boolean"}


def known_type(value: str) -> str:
    """``value`` if it names a contract type (string, int, long, double, date, timestamp,
    boolean, decimal(p,s)); else a ValueError."""
    if value not in _SIMPLE_TYPES and not _DECIMAL.match(value):
        raise ValueError(f"unknown type {value!r}")
    return value


Action = Literal["quarantine", "warn", "fail"]
# Dataset-level checks judge a whole table or batch, so they cannot quarantine a row.
CheckAction = Literal["warn", "fail"]
CheckType = Literal[
    "unique", "referential", "freshness", "row_count", "reconciliation", "quarantine_fraction"
]
_MAX_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([hd])$")


class Column(BaseModel):
    """One column of a dataset as the contract declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: str
    required: bool = False
    description: str
    min: Decimal | None = None
    max: Decimal | None = None
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    default: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return known_type(value)

    @field_validator("pattern")
    @classmethod
    def _valid_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value

    @property
    def decimal_precision(self) -> tuple[int, int] | None:
        """(precision, scale) for a decimal column, else None."""
        match = _DECIMAL.match(self.type)
        return (int(match.group(1)), int(match.group(2))) if match else None


class RowRule(BaseModel):
    """A SQL boolean expression every row must satisfy (true or null passes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    expr: str
    reason: str
    action: Action = "quarantine"


class DatasetCheck(BaseModel):
    """A check on a whole table or batch (``checks:`` in a contract), not on one row.

    Which fields apply depends on ``type``:

    * ``unique``: ``columns`` (default: the business key) hold no value twice.
    * ``referential``: every non-null ``column`` value exists in ``references``
      (``<dataset>.<column>``).
    * ``freshness``: the newest ``column`` value (default: the event time) is at most
      ``max_age`` (``36h``, ``2d``) older than the run time or the given as-of time.
    * ``row_count``: the row count is within ``min_rows`` / ``max_rows``, and, with
      ``anomaly_k``, within mean ± k x standard deviation of the previous runs' counts
      (skipped while fewer than ``min_history`` previous runs are recorded).
    * ``reconciliation``: ``compare: silver_gold`` (net amount and line count per sale
      date in silver.sales, gold.fact_sales and gold.daily_sales; ``scope`` run or all
      dates) or ``compare: bronze_silver`` (a run's rows in = accepted + quarantined +
      duplicates).
    * ``quarantine_fraction``: at most ``max_fraction`` of a batch is quarantined
      (batches under ``min_batch_rows`` rows are skipped: too small to judge a share).

    ``max_fraction`` also lets ``unique`` and ``referential`` tolerate a share of failing
    rows (default 0: any failing row fails the check).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: CheckType
    description: str
    action: CheckAction = "warn"
    columns: tuple[str, ...] = ()
    column: str | None = None
    references: str | None = None
    max_age: str | None = None
    min_rows: int | None = Field(default=None, ge=0)
    max_rows: int | None = Field(default=None, ge=0)
    anomaly_k: float | None = Field(default=None, gt=0)
    min_history: int = Field(default=5, ge=1)
    history_window: int = Field(default=10, ge=1)
    compare: Literal["silver_gold", "bronze_silver"] | None = None
    scope: Literal["run", "all"] = "run"
    max_fraction: float | None = Field(default=None, ge=0, le=1)
    min_batch_rows: int = Field(default=0, ge=0)

    @field_validator("action", mode="before")
    @classmethod
    def _no_quarantine(cls, value: Any) -> Any:
        if value == "quarantine":
            raise ValueError("dataset-level checks take action warn or fail, not quarantine")
        return value

    @model_validator(mode="after")
    def _fields_for_type(self) -> DatasetCheck:
        needed: dict[str, tuple[bool, str]] = {
            "referential": (
                self.column is not None and self.references is not None,
                "column and references",
            ),
            "freshness": (self.max_age is not None, "max_age"),
            "row_count": (
                any(v is not None for v in (self.min_rows, self.max_rows, self.anomaly_k)),
                "min_rows, max_rows or anomaly_k",
            ),
            "reconciliation": (self.compare is not None, "compare"),
            "quarantine_fraction": (self.max_fraction is not None, "max_fraction"),
        }
        ok, fields = needed.get(self.type, (True, ""))
        if not ok:
            raise ValueError(f"check {self.name!r} ({self.type}) needs {fields}")
        if self.references is not None and len(self.references.split(".")) != 2:
            raise ValueError(f"check {self.name!r}: references must be <dataset>.<column>")
        if self.max_age is not None and not _MAX_AGE.match(self.max_age):
            raise ValueError(f"check {self.name!r}: max_age must look like 36h or 2d")
        if self.compare == "silver_gold" and self.action == "fail":
            # Gold is written after silver has committed, by a stage that commits its marts
            # one by one; nothing could be held back, so this check may only warn.
            raise ValueError(f"check {self.name!r}: a silver_gold reconciliation can only warn")
        return self

    @property
    def max_age_hours(self) -> float | None:
        """``max_age`` in hours (``2d`` is 48)."""
        match = _MAX_AGE.match(self.max_age or "")
        if not match:
            return None
        return float(match.group(1)) * (24 if match.group(2) == "d" else 1)

    @property
    def referenced(self) -> tuple[str, str]:
        """(dataset, column) a referential check points at."""
        dataset, column = (self.references or ".").split(".")
        return dataset, column


class Contract(BaseModel):
    """A dataset's contract: columns in landing order, business key, row rules and checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    description: str
    business_key: tuple[str, ...]
    event_time: str
    columns: tuple[Column, ...]
    rules: tuple[RowRule, ...] = Field(default_factory=tuple)
    checks: tuple[DatasetCheck, ...] = Field(default_factory=tuple)

    @model_validator(mode="after")
    def _keys_are_columns(self) -> Contract:
        names = self.column_names
        if len(set(names)) != len(names):
            raise ValueError(f"{self.dataset}: duplicate column names")
        for key in (*self.business_key, self.event_time):
            if key not in names:
                raise ValueError(f"{self.dataset}: {key!r} is not a column")
        for check in self.checks:
            for column in (*check.columns, *([check.column] if check.column else [])):
                if column not in names:
                    raise ValueError(
                        f"{self.dataset}: check {check.name!r}: {column!r} is not a column"
                    )
        rule_names = [*(rule.name for rule in self.rules), *(check.name for check in self.checks)]
        if len(set(rule_names)) != len(rule_names):
            raise ValueError(f"{self.dataset}: duplicate rule or check names")
        return self

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.required]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.dataset} has no column {name!r}")

    def spark_schema(self) -> T.StructType:
        """The typed Spark schema of the contract columns (silver's input shape)."""
        from pyspark.sql import types as T

        return T.StructType(
            [T.StructField(c.name, spark_type(c.type), not c.required) for c in self.columns]
        )


def spark_type(type_name: str) -> T.DataType:
    """Map a contract type name to a Spark data type."""
    from pyspark.sql import types as T

    match = _DECIMAL.match(type_name)
    if match:
        return T.DecimalType(int(match.group(1)), int(match.group(2)))
    simple: dict[str, Any] = {
        "string": T.StringType(),
        "int": T.IntegerType(),
        "long": T.LongType(),
        "double": T.DoubleType(),
        "date": T.DateType(),
        "timestamp": T.TimestampType(),
        "boolean": T.BooleanType(),
    }
    return simple[type_name]  # type: ignore[no-any-return]


def schemas_dir() -> Path:
    """Where the contract files are: $SALES_LAKEHOUSE_SCHEMAS, the wheel, or the repo."""
    override = os.environ.get("SALES_LAKEHOUSE_SCHEMAS")
    if override:
        return Path(override)
    packaged = Path(__file__).parent / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"


@cache
def load_contract(dataset: str) -> Contract:
    """Read and validate ``schemas/<dataset>.yaml``.

    A contract may start with ``extends: <parent>``: it then has the parent's columns
    first, then its own, and the parent's row rules followed by its own (a name may not
    repeat). ``business_key`` and ``event_time`` are the child's, or the parent's when
    the child leaves them out. Dataset-level ``checks`` are not inherited: they judge
    one table (its keys, references, volume), which the child is not. This lets the
    sale-event contract reuse the sales-line columns instead of repeating them.
    """
    return _load(dataset, ())


def _load(dataset: str, chain: tuple[str, ...]) -> Contract:
    if dataset in chain:
        raise ValueError(f"contract {dataset!r} extends itself: {' -> '.join((*chain, dataset))}")
    path = schemas_dir() / f"{dataset}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no contract for dataset {dataset!r} at {path}")
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    if isinstance(raw, dict) and "extends" in raw:
        raw = _with_parent(raw, _load(str(raw.pop("extends")), (*chain, dataset)))
    contract = Contract.model_validate(raw)
    if contract.dataset != dataset:
        raise ValueError(f"{path} declares dataset {contract.dataset!r}, expected {dataset!r}")
    return contract


def _with_parent(raw: dict[str, Any], parent: Contract) -> dict[str, Any]:
    """The child's raw contract with the parent's columns and rules put in front."""
    rules = (*parent.rules, *(RowRule.model_validate(rule) for rule in raw.get("rules") or ()))
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"{raw.get('dataset')}: duplicate rule names after extending")
    return {
        "business_key": parent.business_key,
        "event_time": parent.event_time,
        **raw,
        "columns": (*parent.columns, *(raw.get("columns") or ())),
        "rules": rules,
    }


class OutputColumn(BaseModel):
    """One column of a silver or gold table: its name and type (a contract type)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: str

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return known_type(value)


@cache
def output_columns(layer: str) -> dict[str, tuple[OutputColumn, ...]]:
    """The declared output columns of every table of ``layer`` (``schemas/tables/<layer>.yaml``)."""
    path = schemas_dir() / "tables" / f"{layer}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no output columns for layer {layer!r} at {path}")
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    return {
        table: tuple(OutputColumn.model_validate(column) for column in columns)
        for table, columns in raw.items()
    }


def output_schema(layer: str, table: str) -> T.StructType:
    """The Spark schema of a silver or gold table as declared, every column nullable."""
    from pyspark.sql import types as T

    try:
        columns = output_columns(layer)[table]
    except KeyError:
        raise ValueError(f"schemas/tables/{layer}.yaml declares no table {table!r}") from None
    return T.StructType([T.StructField(c.name, spark_type(c.type), True) for c in columns])
