"""Rolling-origin backtest, the final fit and the forecast (pandas and scikit-learn).

The backtest's origins are the last ``origins`` weeks whose 28 days are all known: the
latest origin is 28 days before the day after the last sale day, the others 7, 14, ...
days earlier. At each origin a model is fitted on samples whose target days are all
before it (nothing after the origin is seen), and the model and both baselines forecast
the same store-product-days for horizons 1..28 from the same information.

Runs on Python 3.9+ (SageMaker's scikit-learn container).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd

from sales_lakehouse.forecast.horizons import HORIZON, Panel
from sales_lakehouse.forecast.metrics import MODEL, error_table, with_baselines
from sales_lakehouse.forecast.model import DemandModel, fit
from sales_lakehouse.forecast.params import Params

Progress = Callable[[str], None]


def _quiet(_line: str) -> None:
    """A progress sink that prints nothing."""


@dataclass
class Backtest:
    """The per-horizon errors and the scored samples behind them."""

    metrics: pd.DataFrame
    scored: pd.DataFrame
    origins: list[date]
    scale: float


def backtest_origins(panel: Panel, origins: int, horizon: int = HORIZON) -> list[int]:
    """Day indices of the origins, oldest first (the latest one's horizon ends on the last
    known day)."""
    latest = panel.last_known + 1 - horizon
    found = [latest - 7 * week for week in reversed(range(origins))]
    if not found or found[0] < 28 + 7:
        raise ValueError(
            f"too little history for {origins} origins of {horizon} days: the features run "
            f"{panel.day0} .. {panel.day(panel.last_known)}"
        )
    return found


def backtest(
    panel: Panel,
    params: Params,
    origins: int = 4,
    horizon: int = HORIZON,
    progress: Progress = _quiet,
) -> Backtest:
    """Fit at each origin on what was known there, forecast ``horizon`` days, score."""
    starts = backtest_origins(panel, origins, horizon)
    parts = []
    for origin in starts:
        train = panel.training_samples(origin, params.train_weeks, horizon)
        model = fit(train, params, str(panel.day(origin - 1)))
        test = panel.samples(origin, range(1, horizon + 1))
        test[MODEL] = model.predict(test)
        parts.append(with_baselines(test))
        progress(f"forecast backtest: origin {panel.day(origin)}, {len(train)} training rows")
    scored = pd.concat(parts, ignore_index=True)
    scale = panel.seasonal_scale(starts[0])
    return Backtest(error_table(scored, scale), scored, [panel.day(o) for o in starts], scale)


def train_final(panel: Panel, params: Params, horizon: int = HORIZON) -> DemandModel:
    """The model for the next forecast: fitted on every target day known."""
    before = panel.last_known + 1
    samples = panel.training_samples(before, params.train_weeks, horizon)
    return fit(samples, params, str(panel.day(panel.last_known)))


def forecast(panel: Panel, model: DemandModel, horizon: int = HORIZON) -> pd.DataFrame:
    """The forecast from the day after the last known day, for ``horizon`` days."""
    samples = panel.samples(panel.last_known + 1, range(1, horizon + 1), known=False)
    if samples.empty:
        raise ValueError(
            "the features hold no days after the last sale day: build them again "
            "(`sales-lakehouse forecast features`)"
        )
    samples["forecast_units"] = model.predict(samples)
    return samples
