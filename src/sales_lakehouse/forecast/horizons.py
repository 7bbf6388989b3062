"""Direct multi-horizon samples from gold.demand_features (pandas and numpy, no Spark).

A forecast made at an *origin* day F (the first day without known sales) for day
D = F + h - 1 (horizon h = 1..28) may use only sales before F. One sample takes:

- the level of demand from the mart's row of F (lag_1, means, trend, frequency, store and
  category means: all computed from days before F);
- the same weekday as D from the mart's row of E = D - 7 * ((h - 1) // 7), the first day of
  D's weekday at or after F: its lag_7 is "last week's same day" as known at F, its
  same_weekday_mean_4w the mean of the last four such days (both baselines), its lag_14
  the week before;
- what is planned for D from D's own row: calendar, price, promotions, store, category;
- the target: D's units.

Runs on Python 3.9+ (SageMaker's scikit-learn container): no ``match``, no ``zip(strict)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

HORIZON = 28
# Level of demand as known at the origin (the origin's row).
LEVEL = (
    "lag_1",
    "mean_7",
    "mean_28",
    "trend_7_28",
    "base_mean_28",
    "promo_days_28",
    "sale_days_28",
    "store_mean_28",
    "category_mean_28",
)
# The target's weekday as known at the origin (row E), and the names the samples give them.
WEEKDAY = {
    "lag_7": "weekday_lag_7",
    "same_weekday_mean_4w": "weekday_mean_4w",
    "lag_14": "weekday_lag_14",
}
# Planned for the target day (its own row).
TARGET = (
    "day_of_week",
    "week_of_year",
    "month",
    "price_ratio",
    "promo_count",
    "promo_discount_pct",
    "targeted_promotions",
    "effective_price_ratio",
)
TARGET_TEXT = ("category", "promo_scope")
REQUIRED = (
    "sale_date",
    "store_id",
    "product_id",
    "units",
    "promo_active",
    *LEVEL,
    *WEEKDAY,
    *TARGET,
    *TARGET_TEXT,
)


class Panel:
    """The mart as arrays indexed [series, day] (a series is a store and product); a cell
    without a row is NaN (None for text) and ``exists`` is False there."""

    def __init__(self, frame: pd.DataFrame) -> None:
        missing = [column for column in REQUIRED if column not in frame.columns]
        if missing:
            raise ValueError(f"the features lack columns: {', '.join(missing)}")
        if frame.empty:
            raise ValueError("the features are empty: run the pipeline and `forecast features`")
        days = pd.to_datetime(frame["sale_date"])
        self.day0: date = days.min().date()
        t = (days - pd.Timestamp(self.day0)).dt.days.to_numpy()
        key = frame["store_id"].astype(str) + "|" + frame["product_id"].astype(str)
        codes, uniques = pd.factorize(key, sort=True)
        parts = pd.Series(uniques).str.split("|", n=1, expand=True)
        self.stores = parts[0].to_numpy(dtype=object)
        self.products = parts[1].to_numpy(dtype=object)
        shape = (len(uniques), int(t.max()) + 1)
        self.exists = np.zeros(shape, dtype=bool)
        self.exists[codes, t] = True
        self.numeric: dict[str, np.ndarray] = {}
        for column in ("units", *LEVEL, *WEEKDAY, *TARGET, "promo_active"):
            values = np.full(shape, np.nan)
            values[codes, t] = pd.to_numeric(frame[column], errors="coerce").astype(float)
            self.numeric[column] = values
        self.text: dict[str, np.ndarray] = {}
        for column in TARGET_TEXT:
            text = np.full(shape, None, dtype=object)
            text[codes, t] = frame[column].to_numpy(dtype=object)
            self.text[column] = text
        known = np.where((~np.isnan(self.numeric["units"])).any(axis=0))[0]
        if not len(known):
            raise ValueError("the features hold no day with known units")
        self.last_known = int(known.max())

    @property
    def days(self) -> int:
        return int(self.exists.shape[1])

    def day(self, index: int) -> date:
        return self.day0 + timedelta(days=int(index))

    def index(self, day: date) -> int:
        return (day - self.day0).days

    def samples(
        self, origin: int, horizons: Iterable[int] = range(1, HORIZON + 1), known: bool = True
    ) -> pd.DataFrame:
        """Samples of one origin (a day index) for ``horizons``: every series with a row at
        the origin and the target day; with ``known`` only targets whose units are known."""
        frames = []
        for h in horizons:
            target = origin + h - 1
            if origin < 0 or target >= self.days:
                continue
            aligned = target - 7 * ((h - 1) // 7)
            rows = self.exists[:, origin] & self.exists[:, target]
            if known:
                rows &= ~np.isnan(self.numeric["units"][:, target])
            if not rows.any():
                continue
            frame = {
                "origin": self.day(origin),
                "sale_date": self.day(target),
                "horizon": h,
                "store_id": self.stores[rows],
                "product_id": self.products[rows],
                "units": self.numeric["units"][rows, target],
            }
            for column in LEVEL:
                frame[column] = self.numeric[column][rows, origin]
            for column, name in WEEKDAY.items():
                frame[name] = self.numeric[column][rows, aligned]
            for column in (*TARGET, "promo_active"):
                frame[column] = self.numeric[column][rows, target]
            for column in TARGET_TEXT:
                frame[column] = self.text[column][rows, target]
            frames.append(pd.DataFrame(frame))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def training_samples(
        self, before: int, weeks: int, horizon: int = HORIZON, min_history: int = 28
    ) -> pd.DataFrame:
        """Samples whose targets are all before the day index ``before``: origins every 7
        days back from ``before`` (the same weekday as a forecast made there), at most
        ``weeks`` of them, none earlier than ``min_history`` days into the panel."""
        frames = []
        for week in range(1, weeks + 1):
            origin = before - 7 * week
            if origin < min_history:
                break
            last_h = min(horizon, before - origin)
            frames.append(self.samples(origin, range(1, last_h + 1)))
        frames = [frame for frame in frames if not frame.empty]
        if not frames:
            raise ValueError(
                f"too little history to train: need {min_history + 7} days before "
                f"{self.day(before)}, the features start {self.day0}"
            )
        return pd.concat(frames, ignore_index=True)

    def seasonal_scale(self, before: int) -> float:
        """MASE's scale: the mean absolute difference of each series' units from the same
        weekday a week earlier, over the days before the day index ``before`` (the
        in-sample error of the last-week's-same-day forecast), pooled over all series."""
        units = self.numeric["units"][:, :before]
        diff = np.abs(units[:, 7:] - units[:, :-7])
        value = float(np.nanmean(diff)) if np.isfinite(diff).any() else float("nan")
        return value


def read_features(folder: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The exported features: every Parquet file under ``folder`` (``.csv`` files when there
    is no Parquet file), as SageMaker's training channel or ``forecast export`` lays them out."""
    from pathlib import Path

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no features folder {folder}")
    parquet = sorted(p for p in root.rglob("*.parquet") if not p.name.startswith((".", "_")))
    if parquet:
        return pd.concat(
            [pd.read_parquet(p, columns=list(columns) if columns else None) for p in parquet],
            ignore_index=True,
        )
    csv = sorted(p for p in root.rglob("*.csv") if not p.name.startswith((".", "_")))
    if not csv:
        raise FileNotFoundError(f"no .parquet or .csv files under {folder}")
    frames = [pd.read_csv(p) for p in csv]
    return pd.concat(frames, ignore_index=True)
