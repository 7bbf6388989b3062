"""Demand forecasting on gold (docs/forecast.md).

- ``features``, ``feature_columns``: the mart ``gold.demand_features`` (Spark, pure transforms);
- ``horizons``, ``model``, ``metrics``, ``backtest``, ``train``: the model, pandas and
  scikit-learn only. These modules import no Spark and run on Python 3.9+, because the same
  files are SageMaker's training script (``train.py``, script mode, the scikit-learn
  container) and ``sales-lakehouse forecast train|backtest|predict``.

This ``__init__`` imports nothing, so the model modules load without Spark installed.
"""
