"""The model's hyperparameters: a plain dataclass, importable without scikit-learn (the CLI
builds its options from it). Runs on Python 3.9+ (SageMaker's scikit-learn container)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Params:
    """Hyperparameters (SageMaker passes them as ``--max-iter 300`` and so on)."""

    max_iter: int = 200
    learning_rate: float = 0.05
    max_leaf_nodes: int = 31
    # Strong regularisation: most store-product-days sell nothing, a leaf of a few rows
    # chases noise (measured on the demo lake: docs/forecast.md, "Choosing the settings").
    min_samples_leaf: int = 300
    l2_regularization: float = 5.0
    # Squared error, not Poisson: on the demo lake Poisson forecast 12 % too few units, which
    # cost it at the store level (docs/forecast.md, "Choosing the settings").
    loss: str = "squared_error"
    train_weeks: int = 12
    max_rows: int = 400_000
    seed: int = 7
