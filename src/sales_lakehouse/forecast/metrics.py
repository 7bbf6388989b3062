"""Forecast errors per method and horizon: WAPE and MASE (pandas and numpy, no Spark).

- WAPE = sum |actual - forecast| / sum actual, over every store, product, day and origin of
  a horizon (so it weighs series by their volume, and a day without sales counts).
- MASE = mean |actual - forecast| / scale, where scale is the in-sample mean absolute
  error of the last-week's-same-day forecast before the first origin, pooled over every
  series (one scale for all methods and horizons: their MASE compare like their MAE).

Runs on Python 3.9+ (SageMaker's scikit-learn container).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

MODEL = "gradient_boosting"
LAST_WEEK = "last_week_same_day"
SEASONAL = "seasonal_mean_4w"
METHODS = (MODEL, LAST_WEEK, SEASONAL)
COLUMNS = (
    "method",
    "horizon",
    "origins",
    "first_origin",
    "last_origin",
    "rows",
    "actual_units",
    "forecast_units",
    "wape",
    "mase",
)


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """sum |actual - forecast| / sum actual (NaN when nothing was sold)."""
    total = float(np.sum(actual))
    return float(np.sum(np.abs(actual - forecast))) / total if total > 0 else float("nan")


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """mean |actual - forecast| / scale (NaN without a positive scale)."""
    if not len(actual) or not scale > 0:
        return float("nan")
    return float(np.mean(np.abs(actual - forecast))) / scale


def with_baselines(samples: pd.DataFrame) -> pd.DataFrame:
    """The two baselines as forecast columns: a series without that history sold nothing."""
    out = samples.copy()
    out[LAST_WEEK] = out["weekday_lag_7"].fillna(0.0)
    out[SEASONAL] = out["weekday_mean_4w"].fillna(0.0)
    return out


def error_table(
    scored: pd.DataFrame, scale: float, methods: Sequence[str] = METHODS
) -> pd.DataFrame:
    """One row per method and horizon, then per method over all horizons (horizon None)."""
    origins = sorted(scored["origin"].unique())
    rows = []
    groups: list[tuple[int | None, pd.DataFrame]] = [
        (int(h), part) for h, part in scored.groupby("horizon", sort=True)
    ]
    groups.append((None, scored))
    for method in methods:
        for horizon, part in groups:
            actual = part["units"].to_numpy(dtype=float)
            forecast = part[method].to_numpy(dtype=float)
            rows.append(
                {
                    "method": method,
                    "horizon": horizon,
                    "origins": len(origins),
                    "first_origin": origins[0],
                    "last_origin": origins[-1],
                    "rows": len(part),
                    "actual_units": float(actual.sum()),
                    "forecast_units": float(forecast.sum()),
                    "wape": wape(actual, forecast),
                    "mase": mase(actual, forecast, scale),
                }
            )
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["horizon"] = table["horizon"].astype("Int64")
    return table


def overall(table: pd.DataFrame, method: str, metric: str) -> float:
    """``metric`` of ``method`` over all horizons."""
    row = table[(table["method"] == method) & table["horizon"].isna()]
    return float(row[metric].iloc[0])


def improvement(table: pd.DataFrame, baseline: str, metric: str = "wape") -> float:
    """How much lower the model's ``metric`` is than ``baseline``'s, as a share (0.1: 10 %)."""
    base = overall(table, baseline, metric)
    return (base - overall(table, MODEL, metric)) / base


def report_lines(table: pd.DataFrame) -> list[str]:
    """The table as text: WAPE and MASE per horizon for each method, then the totals."""
    wide = {
        (method, metric): table[table["method"] == method].set_index("horizon")[metric]
        for method in METHODS
        for metric in ("wape", "mase")
    }
    names = {MODEL: "model", LAST_WEEK: "last week", SEASONAL: "4-week mean"}
    head = "horizon " + "".join(f"{names[m] + ' WAPE':>18}" for m in METHODS)
    head += "".join(f"{names[m] + ' MASE':>18}" for m in METHODS)
    lines = [head]
    horizons = [h for h in wide[(MODEL, "wape")].index if not pd.isna(h)]
    for horizon in [*horizons, None]:
        label = "all" if horizon is None else str(int(horizon))
        key = pd.NA if horizon is None else horizon
        cells = []
        for metric in ("wape", "mase"):
            for method in METHODS:
                series = wide[(method, metric)]
                value = series[series.index.isna()].iloc[0] if horizon is None else series[key]
                cells.append(f"{value:>18.3f}")
        lines.append(f"{label:>7} " + "".join(cells))
    first, last = table["first_origin"].iloc[0], table["last_origin"].iloc[0]
    lines.append(
        f"origins {first} .. {last} ({int(table['origins'].iloc[0])}); model WAPE "
        f"{improvement(table, SEASONAL):+.1%} vs the 4-week seasonal mean, "
        f"{improvement(table, LAST_WEEK):+.1%} vs last week's same day (positive: lower)"
    )
    return lines
