"""The demand model: scikit-learn's HistGradientBoostingRegressor on horizon samples.

One model for all 28 horizons (the horizon is a feature), squared-error loss by default
(``Params.loss``), store, category and promotion scope as categorical features. Saved as
``model.joblib`` (the estimator and what encodes its inputs) and ``model.json`` (the same
metadata for people), the layout SageMaker tars from ``SM_MODEL_DIR`` into model.tar.gz.

Runs on Python 3.9+ (SageMaker's scikit-learn container).
"""

from __future__ import annotations

import json
import tarfile
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingRegressor

from sales_lakehouse.forecast.horizons import LEVEL, TARGET, WEEKDAY
from sales_lakehouse.forecast.params import Params

CATEGORICAL = ("store_id", "category", "promo_scope")
FEATURES = (
    "horizon",
    *LEVEL,
    *WEEKDAY.values(),
    *TARGET,
    "promo_active",
    *CATEGORICAL,
)
MODEL_FILE, META_FILE = "model.joblib", "model.json"


@dataclass
class DemandModel:
    """A fitted estimator with the vocabularies that turn its text features into codes."""

    estimator: Any
    vocabularies: dict[str, list[str]]
    params: dict[str, Any]
    trained_through: str
    model_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    trained_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")  # noqa: UP017 (Python 3.9)
    )
    sklearn_version: str = sklearn.__version__
    rows: int = 0

    def matrix(self, samples: pd.DataFrame) -> np.ndarray:
        """The feature matrix: numbers as floats, text as codes of the vocabularies (an
        unknown value is missing, which the trees route like a missing value)."""
        columns = []
        for name in FEATURES:
            if name in CATEGORICAL:
                lookup = {value: code for code, value in enumerate(self.vocabularies[name])}
                columns.append(samples[name].map(lookup).astype(float).to_numpy())
            else:
                columns.append(pd.to_numeric(samples[name], errors="coerce").astype(float))
        return np.column_stack(columns)

    def predict(self, samples: pd.DataFrame) -> np.ndarray:
        """Forecast units, never negative."""
        if samples.empty:
            return np.zeros(0)
        predicted: np.ndarray = np.clip(self.estimator.predict(self.matrix(samples)), 0.0, None)
        return predicted

    def describe(self) -> dict[str, Any]:
        meta = {k: v for k, v in asdict(self).items() if k != "estimator"}
        meta["features"] = list(FEATURES)
        meta["categorical"] = list(CATEGORICAL)
        return meta


def fit(samples: pd.DataFrame, params: Params, trained_through: str) -> DemandModel:
    """Fit on the samples with known units (at most ``max_rows`` of them, drawn at random)."""
    known = samples[samples["units"].notna()]
    if known.empty:
        raise ValueError("no training samples with known units")
    if len(known) > params.max_rows:
        known = known.sample(n=params.max_rows, random_state=params.seed)
    vocabularies = {
        name: sorted({str(v) for v in known[name].dropna().unique()}) for name in CATEGORICAL
    }
    estimator = HistGradientBoostingRegressor(
        loss=params.loss,
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf,
        l2_regularization=params.l2_regularization,
        categorical_features=[FEATURES.index(name) for name in CATEGORICAL],
        early_stopping=False,
        random_state=params.seed,
    )
    model = DemandModel(
        estimator=estimator,
        vocabularies=vocabularies,
        params=asdict(params),
        trained_through=trained_through,
        rows=len(known),
    )
    estimator.fit(model.matrix(known), known["units"].to_numpy(dtype=float))
    return model


def save(model: DemandModel, folder: str | Path) -> Path:
    """``model.joblib`` and ``model.json`` into ``folder``; the joblib file's path."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, target / MODEL_FILE)
    (target / META_FILE).write_text(json.dumps(model.describe(), indent=2) + "\n", "utf-8")
    return target / MODEL_FILE


def load(path: str | Path) -> DemandModel:
    """A model saved by :func:`save`: its folder, its joblib file, or SageMaker's
    model.tar.gz of that folder. Refuses one pickled by another scikit-learn version."""
    source = Path(path)
    if source.name.endswith(".tar.gz"):
        with tempfile.TemporaryDirectory() as scratch, tarfile.open(source) as archive:
            for member in archive.getmembers():
                name = Path(member.name).name  # "model.joblib" or "./model.joblib"
                content = archive.extractfile(member) if member.isfile() else None
                if name in (MODEL_FILE, META_FILE) and content is not None:
                    (Path(scratch) / name).write_bytes(content.read())
            return load(Path(scratch) / MODEL_FILE)
    if source.is_dir():
        source = source / MODEL_FILE
    if not source.is_file():
        raise FileNotFoundError(f"no model at {path}: run `sales-lakehouse forecast train`")
    meta = source.with_name(META_FILE)
    if meta.is_file():
        version = json.loads(meta.read_text("utf-8")).get("sklearn_version")
        if version and version != sklearn.__version__:
            raise ValueError(
                f"the model at {path} was trained with scikit-learn {version}, this is "
                f"{sklearn.__version__}: train it again here or predict with that version"
            )
    model = joblib.load(source)
    if not isinstance(model, DemandModel):
        raise ValueError(f"{source} does not hold a demand model")
    return model
