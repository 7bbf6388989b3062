"""The model side of the forecast (pandas, numpy, scikit-learn; no Spark): errors worked out
by hand, the horizon samples' alignment, no training on the origin or later, the model
against both baselines on a synthetic set with promotions, saving and loading."""

from __future__ import annotations

import json
import tarfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sales_lakehouse.forecast.backtest import backtest, forecast, train_final
from sales_lakehouse.forecast.horizons import Panel
from sales_lakehouse.forecast.metrics import (
    LAST_WEEK,
    MODEL,
    SEASONAL,
    error_table,
    improvement,
    mase,
    wape,
)
from sales_lakehouse.forecast.model import META_FILE, load, save
from sales_lakehouse.forecast.params import Params
from tests.forecast_frames import START, one_training_thread, synthetic_features

__all__ = ["one_training_thread"]  # the fixture, used by every test here
pytestmark = pytest.mark.usefixtures("one_training_thread")

SMALL = Params(max_iter=40, learning_rate=0.1, min_samples_leaf=20, train_weeks=8)


def test_wape_and_mase_by_hand() -> None:
    actual, forecast_ = np.array([0.0, 2.0, 4.0]), np.array([1.0, 1.0, 4.0])
    assert wape(actual, forecast_) == pytest.approx(2 / 6)  # |errors| 1 + 1 + 0 over 6 sold
    assert mase(actual, forecast_, scale=0.5) == pytest.approx((2 / 3) / 0.5)
    assert np.isnan(wape(np.zeros(2), np.ones(2)))


def test_error_table_per_horizon_and_over_all() -> None:
    scored = pd.DataFrame(
        {
            "origin": [START] * 4,
            "horizon": [1, 1, 2, 2],
            "units": [2.0, 0.0, 3.0, 1.0],
            MODEL: [2.0, 1.0, 2.0, 1.0],
            LAST_WEEK: [0.0, 0.0, 3.0, 3.0],
            SEASONAL: [1.0, 1.0, 1.0, 1.0],
        }
    )
    table = error_table(scored, scale=2.0).set_index(["method", "horizon"])
    assert table.loc[(MODEL, 1), "wape"] == pytest.approx(1 / 2)
    assert table.loc[(MODEL, 2), "wape"] == pytest.approx(1 / 4)
    assert table.loc[(LAST_WEEK, 1), "wape"] == pytest.approx(2 / 2)
    assert table.loc[(SEASONAL, 2), "mase"] == pytest.approx(((2 + 0) / 2) / 2.0)
    totals = error_table(scored, scale=2.0)
    totals = totals[totals["horizon"].isna()].set_index("method")
    assert totals.loc[MODEL, "wape"] == pytest.approx(2 / 6)
    assert totals.loc[MODEL, "forecast_units"] == pytest.approx(6.0)
    assert totals.loc[SEASONAL, "rows"] == 4


def _counting_panel() -> Panel:
    """One series whose units on day t are t, and whose lags say which day they read."""
    frame = synthetic_features(series=1, days=84)
    t = np.arange(84, dtype=float)
    frame["units"] = t
    for k in (1, 7, 14, 28):
        frame[f"lag_{k}"] = np.where(t >= k, t - k, np.nan)
    frame["same_weekday_mean_4w"] = np.where(t >= 28, t - 17.5, np.nan)  # mean of t-7..t-28
    return Panel(frame)


def test_samples_read_the_origin_the_target_s_weekday_and_the_target() -> None:
    panel = _counting_panel()
    samples = panel.samples(50, [1, 7, 8, 9, 28]).set_index("horizon")
    # h=9: target day 58; its weekday known at 50 is day 51 (58 - 7): last week = day 44.
    assert samples.loc[9, "units"] == 58
    assert samples.loc[9, "lag_1"] == 49  # the origin's row: the day before the origin
    assert samples.loc[9, "weekday_lag_7"] == 44
    assert samples.loc[9, "weekday_lag_14"] == 37
    assert samples.loc[9, "weekday_mean_4w"] == pytest.approx(51 - 17.5)
    assert samples.loc[1, "weekday_lag_7"] == 43  # h=1: target 50, a week before: 43
    assert samples.loc[7, "weekday_lag_7"] == 49
    assert samples.loc[8, "weekday_lag_7"] == 43  # target 57: 50 is not known, 43 is
    assert samples.loc[28, "weekday_lag_7"] == 77 - 28  # target 77: day 49
    # Nothing any sample reads lies on or after the origin, but the target itself.
    for column in ("lag_1", "weekday_lag_7", "weekday_lag_14"):
        assert (samples[column] < 50).all(), column
    assert samples.loc[9, "sale_date"] == START + timedelta(days=58)


def test_training_samples_end_before_the_origin() -> None:
    panel = Panel(synthetic_features(days=84))
    train = panel.training_samples(70, weeks=4)
    assert pd.to_datetime(train["sale_date"]).max() == pd.Timestamp(START + timedelta(days=69))
    assert sorted(train["origin"].unique()) == [START + timedelta(days=d) for d in (42, 49, 56, 63)]
    assert train.groupby("origin")["horizon"].max().tolist() == [28, 21, 14, 7]


def test_the_model_beats_both_baselines_where_promotions_drive_demand() -> None:
    """The baselines only repeat past weeks; promotions (tripled demand for a week, on
    the calendar in advance) are in the model's features: it must be well ahead."""
    panel = Panel(synthetic_features(series=16, days=126))
    result = backtest(panel, SMALL, origins=2)
    assert result.scored["origin"].nunique() == 2
    assert set(result.scored["horizon"]) == set(range(1, 29))
    assert improvement(result.metrics, SEASONAL) >= 0.15
    assert improvement(result.metrics, LAST_WEEK) >= 0.15
    assert improvement(result.metrics, SEASONAL, "mase") >= 0.15


def test_forecast_covers_the_horizon_after_the_last_known_day(tmp_path: Path) -> None:
    panel = Panel(synthetic_features(series=8, days=84, horizon=28))
    model = train_final(panel, Params(max_iter=10, train_weeks=4))
    result = forecast(panel, model)
    assert result["horizon"].tolist() == sorted(result["horizon"].tolist())
    assert set(result["horizon"]) == set(range(1, 29))
    assert len(result) == 8 * 28
    assert result["sale_date"].min() == START + timedelta(days=84)
    assert (result["forecast_units"] >= 0).all()
    assert result["units"].isna().all()


def test_a_saved_model_loads_from_its_folder_or_sagemaker_s_archive(tmp_path: Path) -> None:
    panel = Panel(synthetic_features(series=8, days=84))
    model = train_final(panel, Params(max_iter=10, train_weeks=4))
    folder = tmp_path / "model"
    save(model, folder)
    samples = panel.samples(60, range(1, 8))
    assert np.allclose(load(folder).predict(samples), model.predict(samples))
    archive = tmp_path / "model.tar.gz"  # as SageMaker tars SM_MODEL_DIR
    with tarfile.open(archive, "w:gz") as tar:
        for path in folder.iterdir():
            tar.add(path, arcname=path.name)
    assert load(archive).model_id == model.model_id
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["trained_through"] == str(START + timedelta(days=83))
    (folder / META_FILE).write_text(json.dumps({**meta, "sklearn_version": "0.1"}))
    with pytest.raises(ValueError, match=r"scikit-learn 0\.1"):
        load(folder)
