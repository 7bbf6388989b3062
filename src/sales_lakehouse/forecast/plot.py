"""The backtest as a PNG: error by horizon, and actual vs forecast for a few products.

matplotlib with the Agg backend (no display). Not shipped to SageMaker.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sales_lakehouse.forecast.metrics import LAST_WEEK, METHODS, MODEL, SEASONAL

LABELS = {MODEL: "gradient boosting", LAST_WEEK: "last week's same day", SEASONAL: "4-week mean"}
PRODUCTS = 4


def top_products(scored: pd.DataFrame, count: int = PRODUCTS) -> list[str]:
    """The products that sold the most units in the latest origin's days."""
    latest = scored[scored["origin"] == scored["origin"].max()]
    totals = latest.groupby("product_id")["units"].sum().sort_values(ascending=False)
    return [str(p) for p in totals.index[:count]]


def plot_backtest(metrics: pd.DataFrame, scored: pd.DataFrame, path: Path) -> Path:
    """Write the chart to ``path``: WAPE by horizon per method, then, for the top products
    (all stores together), the latest origin's 28 days: actual units and each forecast."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    products = top_products(scored)
    figure, axes = plt.subplots(1 + len(products), 1, figsize=(10, 3.2 * (1 + len(products))))
    errors = axes[0]
    for method in METHODS:
        rows = metrics[(metrics["method"] == method) & metrics["horizon"].notna()]
        errors.plot(rows["horizon"].astype(int), rows["wape"], marker="o", label=LABELS[method])
    errors.set_title("Backtest: WAPE by horizon (lower is better)")
    errors.set_xlabel("horizon (days after the origin)")
    errors.set_ylabel("WAPE")
    errors.legend()
    latest = scored[scored["origin"] == scored["origin"].max()]
    for axis, product in zip(axes[1:], products, strict=True):
        days = latest[latest["product_id"] == product].groupby("sale_date")
        totals = days[["units", *METHODS]].sum()
        axis.plot(totals.index, totals["units"], color="black", linewidth=2, label="actual")
        for method in METHODS:
            axis.plot(totals.index, totals[method], label=LABELS[method])
        axis.set_title(f"{product}: units per day, all stores (origin {latest['origin'].iloc[0]})")
        axis.legend(fontsize="small")
        axis.tick_params(axis="x", labelrotation=20)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
