"""``sales-lakehouse forecast train|backtest|predict``: the model on a local lake.

Each first brings gold.demand_features up to date and exports it (pipeline/forecast.py),
then works in pandas on the export, as SageMaker's training job does: ``train`` runs the
training script's own ``main`` with the export as its training channel and
``<lake>/forecast/model`` as its model folder. Results go back to gold:
``forecast_metrics`` (appended per backtest) and ``demand_forecast`` (per forecast date).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame

from sales_lakehouse.config import is_local
from sales_lakehouse.contracts import output_schema
from sales_lakehouse.forecast import train as training
from sales_lakehouse.forecast.backtest import Backtest, backtest, forecast
from sales_lakehouse.forecast.horizons import Panel, read_features
from sales_lakehouse.forecast.metrics import report_lines
from sales_lakehouse.forecast.model import DemandModel, load
from sales_lakehouse.forecast.params import Params
from sales_lakehouse.lake import Lake
from sales_lakehouse.pipeline.forecast import (
    FORECAST,
    METRICS,
    export_features,
    refresh_features,
)
from sales_lakehouse.pipeline.summary import Progress
from sales_lakehouse.runtime.session import session_conf

ARROW = {"spark.sql.execution.arrow.pyspark.enabled": "true"}


@dataclass(frozen=True)
class ForecastRequest:
    """What a ``forecast`` command was asked for."""

    params: Params = field(default_factory=Params)
    full_refresh: bool = False
    origins: int = 4
    model: str | None = None
    plot: Path | None = None


def prepared_features(lake: Lake, request: ForecastRequest, progress: Progress) -> str:
    """Refresh and export the features; the export's local folder."""
    refresh_features(lake, full_refresh=request.full_refresh, progress=progress)
    path = export_features(lake, progress)
    if not is_local(path):
        raise ValueError(
            f"forecast train, backtest and predict read the exported features from a local "
            f"lake, not {path}: on AWS train with SageMaker (docs/forecast.md)"
        )
    return path.removeprefix("file://")


def model_folder(lake: Lake, request: ForecastRequest) -> str:
    return request.model or lake.settings.forecast_path("model").removeprefix("file://")


def train_model(lake: Lake, request: ForecastRequest, progress: Progress) -> DemandModel:
    """Run the training script on the exported features into ``<lake>/forecast/model``."""
    features = prepared_features(lake, request, progress)
    folder = model_folder(lake, request)
    arguments = ["--train", features, "--model-dir", folder]
    for name, value in asdict(request.params).items():
        arguments += ["--" + name.replace("_", "-"), str(value)]
    training.main(arguments)
    return load(folder)


def run_backtest(lake: Lake, request: ForecastRequest, progress: Progress) -> Backtest:
    """Backtest, append the errors to gold.forecast_metrics, print them, plot them."""
    from sales_lakehouse.forecast.plot import plot_backtest

    panel = Panel(read_features(prepared_features(lake, request, progress)))
    result = backtest(panel, request.params, request.origins, progress=progress)
    metrics = result.metrics.assign(evaluated_at=datetime.now(UTC).replace(tzinfo=None))
    lake.append_rows(
        _to_spark(lake, metrics, METRICS), "gold", METRICS, output_schema("gold", METRICS)
    )
    for line in report_lines(result.metrics):
        progress(line)
    if request.plot is not None:
        progress(
            f"forecast backtest: chart {plot_backtest(result.metrics, result.scored, request.plot)}"
        )
    return result


def predict(lake: Lake, request: ForecastRequest, progress: Progress) -> pd.DataFrame:
    """Forecast the days after the last sale day into gold.demand_forecast."""
    panel = Panel(read_features(prepared_features(lake, request, progress)))
    model = load(model_folder(lake, request))
    result = forecast(panel, model)
    origin = result["origin"].iloc[0]
    rows = result.rename(columns={"origin": "forecast_date"}).assign(
        model_id=model.model_id, created_at=datetime.now(UTC).replace(tzinfo=None)
    )
    rows["promo_active"] = rows["promo_active"].fillna(0).astype(bool)
    lake.replace_where(
        _to_spark(lake, rows, FORECAST),
        "gold",
        FORECAST,
        f"forecast_date = DATE'{origin.isoformat()}'",
    )
    progress(
        f"forecast predict: {len(rows)} rows, {rows['sale_date'].min()} .. "
        f"{rows['sale_date'].max()}, {rows['forecast_units'].sum():.0f} units, model "
        f"{model.model_id} (trained through {model.trained_through})"
    )
    return rows


def _to_spark(lake: Lake, frame: pd.DataFrame, table: str) -> DataFrame:
    """``frame``'s columns of the gold table ``table``, as a Spark DataFrame of its schema."""
    schema = output_schema("gold", table)
    with session_conf(lake.spark, ARROW):
        return lake.spark.createDataFrame(frame[list(schema.fieldNames())], schema=schema)
