"""SageMaker script-mode training: features from ``SM_CHANNEL_TRAIN``, model to ``SM_MODEL_DIR``.

SageMaker's scikit-learn container runs the entry point (jobs/forecast_train.py, which
calls :func:`main`) with the job's hyperparameters as arguments (``--max-iter 300``), the
``train`` channel's files under ``SM_CHANNEL_TRAIN`` and ``SM_MODEL_DIR`` as the folder it
tars into model.tar.gz; ``SM_OUTPUT_DATA_DIR`` is uploaded as output.tar.gz. Locally
``sales-lakehouse forecast train`` runs the same function with the same variables pointing
into the lake. With ``--backtest-origins N`` it also backtests and writes the errors per
horizon to ``<output-data-dir>/forecast_metrics.csv``.

Runs on Python 3.9+ (SageMaker's scikit-learn container).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from sales_lakehouse.forecast.backtest import backtest, train_final
from sales_lakehouse.forecast.horizons import Panel, read_features
from sales_lakehouse.forecast.metrics import report_lines
from sales_lakehouse.forecast.model import save
from sales_lakehouse.forecast.params import Params


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Hyperparameters (every field of Params as ``--name-with-dashes``) and the folders."""
    parser = argparse.ArgumentParser(description="Train the demand model (SageMaker script mode).")
    defaults = Params()
    for item in fields(Params):
        kind: Any = type(getattr(defaults, item.name))
        parser.add_argument(
            "--" + item.name.replace("_", "-"), type=kind, default=getattr(defaults, item.name)
        )
    parser.add_argument("--backtest-origins", type=int, default=0, help="0: no backtest")
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--output-data-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR"))
    args = parser.parse_args(argv)
    if not args.train or not args.model_dir:
        parser.error("need --train and --model-dir (or SM_CHANNEL_TRAIN and SM_MODEL_DIR)")
    return args


def params_of(args: argparse.Namespace) -> Params:
    return Params(**{item.name: getattr(args, item.name) for item in fields(Params)})


def main(argv: Sequence[str] | None = None) -> int:
    """Train on the channel's features, save the model; optionally backtest first."""
    args = parse_args(argv)
    params = params_of(args)
    panel = Panel(read_features(args.train))
    print(
        f"features: {panel.exists.sum()} rows, {len(panel.stores)} series, "
        f"{panel.day0} .. {panel.day(panel.last_known)} known",
        flush=True,
    )
    if args.backtest_origins:
        result = backtest(panel, params, args.backtest_origins, progress=print)
        print("\n".join(report_lines(result.metrics)), flush=True)
        if args.output_data_dir:
            output = Path(args.output_data_dir)
            output.mkdir(parents=True, exist_ok=True)
            result.metrics.to_csv(output / "forecast_metrics.csv", index=False)
    model = train_final(panel, params)
    path = save(model, args.model_dir)
    print(f"model {model.model_id}: {model.rows} rows through {model.trained_through} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
