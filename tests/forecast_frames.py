"""Synthetic gold.demand_features frames for the model tests (pandas and numpy, no Spark).

Poisson units per store-product-day with a weekly pattern and product promotions that
triple demand for a week; the feature columns follow the mart's definitions (windows end
the day before, the planned promotion of the day itself). The promotions are what the
baselines cannot see and the model can.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from sales_lakehouse.forecast.horizons import REQUIRED

START = date(2025, 1, 6)  # a Monday
WEEKDAY = np.array([0.8, 0.8, 0.9, 1.0, 1.2, 1.6, 1.3])
LIFT = 3.0


@pytest.fixture
def one_training_thread() -> Iterator[None]:
    """The tests' small fits on one OpenMP thread. With more threads than free cores (a
    loaded machine), scikit-learn's threads spin at every barrier: one test fit took 50 s
    instead of 13 s."""
    with threadpool_limits(limits=1):
        yield


def _window_mean(values: np.ndarray, t: int, days: int) -> np.ndarray:
    window = values[:, max(0, t - days) : t]
    with np.errstate(all="ignore"):
        counts = np.sum(~np.isnan(window), axis=1)
        return np.where(counts > 0, np.nansum(window, axis=1) / np.maximum(counts, 1), np.nan)


def synthetic_features(
    series: int = 24, days: int = 126, horizon: int = 0, seed: int = 3
) -> pd.DataFrame:
    """``days`` days of known units, then ``horizon`` days with unknown (null) units."""
    rng = np.random.default_rng(seed)
    total = days + horizon
    dow = np.array([(START + timedelta(days=t)).weekday() for t in range(total)])
    promo = np.zeros((series, total), dtype=bool)
    for s in range(series):
        for begin in rng.choice(np.arange(0, total - 7, 7), size=3, replace=False):
            promo[s, begin : begin + 7] = True
    base = rng.uniform(0.3, 3.0, series)
    rate = base[:, None] * WEEKDAY[dow][None, :] * np.where(promo, LIFT, 1.0)
    units = rng.poisson(rate).astype(float)
    units[:, days:] = np.nan
    frames = []
    for t in range(total):
        lag = {
            k: units[:, t - k] if t >= k else np.full(series, np.nan) for k in (1, 7, 14, 21, 28)
        }
        with warnings.catch_warnings():  # all four lags missing: NaN, as in the mart
            warnings.simplefilter("ignore", RuntimeWarning)
            same_weekday = np.nanmean(np.stack([lag[k] for k in (7, 14, 21, 28)]), axis=0)
        unpromoted = np.where(promo, np.nan, units)
        mean_7, mean_28 = _window_mean(units, t, 7), _window_mean(units, t, 28)
        day = START + timedelta(days=t)
        targeted = int(promo[:, t].sum())
        frames.append(
            pd.DataFrame(
                {
                    "sale_date": day,
                    "store_id": [f"S{s % 4}" for s in range(series)],
                    "product_id": [f"P{s:03d}" for s in range(series)],
                    "category": [f"C{s % 3}" for s in range(series)],
                    "units": units[:, t],
                    "day_of_week": day.isoweekday(),
                    "week_of_year": day.isocalendar()[1],
                    "month": day.month,
                    "lag_1": lag[1],
                    "lag_7": lag[7],
                    "lag_14": lag[14],
                    "lag_28": lag[28],
                    "mean_7": mean_7,
                    "mean_28": mean_28,
                    "same_weekday_mean_4w": same_weekday,
                    "trend_7_28": mean_7 - mean_28,
                    "base_mean_28": _window_mean(unpromoted, t, 28),
                    "sale_days_28": np.sum(units[:, max(0, t - 28) : t] > 0, axis=1),
                    "store_mean_28": np.nanmean(mean_28) if t else np.nan,
                    "category_mean_28": np.nanmean(mean_28) if t else np.nan,
                    "price_ratio": 1.0,
                    "promo_active": promo[:, t],
                    "promo_count": promo[:, t].astype(int),
                    "promo_discount_pct": np.where(promo[:, t], 20.0, 0.0),
                    "promo_scope": np.where(promo[:, t], "product", None),
                    "targeted_promotions": targeted,
                    "promo_days_28": np.sum(promo[:, max(0, t - 28) : t], axis=1),
                    "effective_price_ratio": np.where(promo[:, t], 0.8, 1.0),
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    assert set(REQUIRED) <= set(frame.columns)
    return frame
