"""One settings object for a run: where landing and lake are, defaults, the run id.

Everything path- or environment-dependent is decided here and passed down explicitly,
so transforms never look at paths or the environment.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sales_lakehouse.contracts import load_contract

LAYERS: tuple[str, ...] = ("bronze", "silver", "gold", "quarantine", "meta", "quality")
# Streaming checkpoints (which landed event files bronze has taken), beside the layers.
CHECKPOINTS = "_checkpoints"
# The forecast's plain files beside the layers (docs/forecast.md): forecast/features/ (the
# exported gold.demand_features, SageMaker's training channel) and forecast/model/.
FORECAST = "forecast"
# Every top-level folder a pipeline job writes under the lake root: the IAM policy of the
# Glue jobs grants exactly these (tests/infra/test_template.py).
LAKE_PREFIXES: tuple[str, ...] = (*LAYERS, CHECKPOINTS, FORECAST)


def normalize_root(root: str) -> str:
    """An absolute local path, or an ``s3a://`` URI for ``s3://`` / ``s3a://`` roots."""
    if root.startswith(("s3://", "s3a://", "s3n://")):
        return "s3a://" + root.split("://", 1)[1].rstrip("/")
    if "://" in root:
        return root.rstrip("/")
    return str(Path(root).expanduser().resolve())


def is_local(root: str) -> bool:
    return "://" not in root or root.startswith("file://")


def new_run_id(now: datetime) -> str:
    """Sortable, unique run id: UTC timestamp plus a short random suffix."""
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class Settings:
    """Run settings; build with :meth:`from_args` so env defaults apply."""

    landing: str
    lake: str
    default_currency: str = "USD"
    baseline_days: int = 28
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    run_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "landing", normalize_root(self.landing))
        object.__setattr__(self, "lake", normalize_root(self.lake))
        if not self.run_id:
            object.__setattr__(self, "run_id", new_run_id(self.started_at))
        allowed = load_contract("sales").column("currency").allowed or ()
        if self.default_currency not in allowed:
            raise ValueError(
                f"default currency {self.default_currency!r} is not one of {', '.join(allowed)}"
            )
        if self.baseline_days < 1:
            raise ValueError("baseline_days must be at least 1")

    @classmethod
    def from_args(
        cls,
        landing: str | None = None,
        lake: str | None = None,
        default_currency: str | None = None,
    ) -> Settings:
        """Arguments win over $SALES_LAKEHOUSE_LANDING / _LAKE / _CURRENCY, then defaults."""
        env = os.environ
        return cls(
            landing=landing or env.get("SALES_LAKEHOUSE_LANDING", "landing"),
            lake=lake or env.get("SALES_LAKEHOUSE_LAKE", "lakehouse"),
            default_currency=default_currency or env.get("SALES_LAKEHOUSE_CURRENCY", "USD"),
        )

    def table_path(self, layer: str, name: str) -> str:
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}")
        return f"{self.lake}/{layer}/{name}"

    def landing_path(self, dataset: str) -> str:
        return f"{self.landing}/{dataset}"

    def forecast_path(self, name: str) -> str:
        """``<lake>/forecast/<name>``: the exported features, the model."""
        return f"{self.lake}/{FORECAST}/{name}"
