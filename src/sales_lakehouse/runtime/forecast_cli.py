"""``sales-lakehouse forecast features|train|backtest|predict`` (docs/forecast.md).

Kept beside cli.py so that the forecast's options live in one place; imports nothing heavy
at module level (the CLI starts fast).
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any

ACTIONS = {
    "features": "bring gold.demand_features up to date with gold and export it (Parquet)",
    "train": "train the demand model on the features (SageMaker's script, run locally)",
    "backtest": "rolling-origin backtest vs two baselines into gold.forecast_metrics, with a chart",
    "predict": "forecast the next 28 days per store and product into gold.demand_forecast",
}
DEFAULT_PLOT = Path("build/forecast_backtest.png")


def add_forecast_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``forecast`` command and its actions."""
    from sales_lakehouse.forecast.params import Params

    forecast = commands.add_parser(
        "forecast", help="demand forecast on gold: features, train, backtest, predict"
    )
    actions = forecast.add_subparsers(dest="action", required=True)
    defaults = Params()
    for name, text in ACTIONS.items():
        action = actions.add_parser(name, help=text)
        action.add_argument(
            "--lake", help="lake root (default ./lakehouse or $SALES_LAKEHOUSE_LAKE)"
        )
        action.add_argument(
            "--full-refresh", action="store_true", help="rebuild gold.demand_features whole"
        )
        if name in ("train", "backtest"):
            for item in fields(Params):
                kind: Any = type(getattr(defaults, item.name))
                action.add_argument(
                    "--" + item.name.replace("_", "-"),
                    type=kind,
                    default=getattr(defaults, item.name),
                    help=f"hyperparameter (default {getattr(defaults, item.name)})",
                )
        if name == "backtest":
            action.add_argument("--origins", type=int, default=4, help="weekly origins (4)")
            action.add_argument(
                "--plot", type=Path, default=DEFAULT_PLOT, help=f"PNG chart ({DEFAULT_PLOT})"
            )
        if name in ("train", "predict"):
            action.add_argument("--model", help="model folder (default <lake>/forecast/model)")


def run_forecast(args: argparse.Namespace) -> int:
    """Run one forecast action while holding the lake (each writes gold tables)."""
    from sales_lakehouse.config import Settings, is_local
    from sales_lakehouse.lake import Lake
    from sales_lakehouse.lake.lock import lake_lock
    from sales_lakehouse.pipeline.forecast import export_features, refresh_features
    from sales_lakehouse.pipeline.summary import console_progress as progress
    from sales_lakehouse.runtime.session import build_session, check_java

    settings = Settings.from_args(lake=args.lake)
    if is_local(settings.lake) and not Path(settings.lake).is_dir():
        raise FileNotFoundError(f"lake {settings.lake} does not exist: run the pipeline first")
    check_java()
    lake = Lake(build_session(settings), settings)
    with lake_lock(settings.lake, settings.run_id, f"forecast {args.action}", progress=progress):
        if args.action == "features":  # what the Glue job runs: Spark only, no scikit-learn
            refresh_features(lake, full_refresh=args.full_refresh, progress=progress)
            export_features(lake, progress)
            return 0
        from sales_lakehouse.forecast.params import Params
        from sales_lakehouse.pipeline import forecast_model

        request = forecast_model.ForecastRequest(
            params=Params(
                **{f.name: getattr(args, f.name) for f in fields(Params) if hasattr(args, f.name)}
            ),
            full_refresh=args.full_refresh,
            origins=getattr(args, "origins", 4),
            model=getattr(args, "model", None),
            plot=getattr(args, "plot", None),
        )
        if args.action == "train":
            forecast_model.train_model(lake, request, progress)
        elif args.action == "backtest":
            forecast_model.run_backtest(lake, request, progress)
        else:
            forecast_model.predict(lake, request, progress)
    return 0
