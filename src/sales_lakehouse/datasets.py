"""One registry of the silver datasets: what each one is and how its rows reach silver.

The silver stage (``pipeline/silver.py``) is generic over these entries. Adding a dataset
or a source (the database extract is next) means a contract in ``schemas/``, its own
transform module, and an entry here, not edits spread over the stages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from pyspark.sql import DataFrame

from sales_lakehouse.contracts import Contract, load_contract
from sales_lakehouse.silver.common import INGEST_ORDER
from sales_lakehouse.silver.oltp import LINES, ORDERS, order_line_states
from sales_lakehouse.silver.products import build_product_versions
from sales_lakehouse.silver.promotions import to_silver_promotions
from sales_lakehouse.silver.sales import (
    SALES_ORDER,
    batch_lines,
    event_lines,
    oltp_lines,
    to_silver_sales,
)

# accepted rows (or their latest versions) -> DataFrame, given the target's contract
Shape = Callable[[DataFrame, Contract], DataFrame]
# (stored versions of the touched history keys, new versions, contract) -> all versions
History = Callable[[DataFrame, DataFrame, Contract], DataFrame]
# (the batch's new bronze rows per table, every bronze row per table, the dataset's
# contract) -> the dataset's rows
Combine = Callable[[Mapping[str, DataFrame], Mapping[str, DataFrame], Contract], DataFrame]


def _as_is(rows: DataFrame, _contract: Contract) -> DataFrame:
    return rows


def _first_versions(latest: DataFrame, contract: Contract) -> DataFrame:
    """The SCD2 versions of products not stored yet (a new table, or a full refresh)."""
    return build_product_versions(latest.limit(0), latest, contract)


@dataclass(frozen=True)
class SilverDataset:
    """How one landed dataset becomes rows of a silver table.

    - ``target``: the silver table its rows go to (sale events: ``sales``);
    - ``version_order``: the columns saying which of two versions of a key is newer;
    - ``versions``: accepted rows -> versions of the target's rows;
    - ``shape``: the latest versions -> the target's silver rows;
    - ``write``: ``upsert`` (MERGE on the business key) or ``scd2`` (the history of each
      ``history_key`` is rebuilt by ``history`` from the stored and the new versions,
      then MERGEd);
    - ``cluster_by``: the column the target's files are written in ranges of; an
      increment's MERGE and checks are limited to the values its keys have there;
    - ``sources`` and ``combine``: a dataset made of several bronze tables (the order
      database's orders and lines): ``combine`` turns their new and stored rows into the
      dataset's rows, in bronze's shape. Without them the dataset's rows are
      ``bronze.<name>``'s.
    """

    name: str
    target: str
    version_order: tuple[str, ...] = INGEST_ORDER
    versions: Shape = _as_is
    shape: Shape = _as_is
    write: Literal["upsert", "scd2"] = "upsert"
    history_key: tuple[str, ...] = ()
    history: History | None = None
    cluster_by: str | None = None
    sources: tuple[str, ...] = ()
    combine: Combine | None = None

    @property
    def bronze_tables(self) -> tuple[str, ...]:
        """The bronze tables the dataset's rows come from."""
        return self.sources or (self.name,)

    @property
    def contract(self) -> Contract:
        return load_contract(self.name)

    @property
    def target_contract(self) -> Contract:
        return load_contract(self.target)

    @property
    def feeds_another(self) -> bool:
        """True when its rows go to another dataset's table, after that dataset's own."""
        return self.target != self.name

    @property
    def prune_by(self) -> str | None:
        """The column a MERGE into the target is limited by (its clustering column)."""
        return self.cluster_by


SILVER: dict[str, SilverDataset] = {
    entry.name: entry
    for entry in (
        SilverDataset(
            "products",
            target="products",
            shape=_first_versions,
            write="scd2",
            history_key=("product_id",),
            history=build_product_versions,
        ),
        SilverDataset("promotions", target="promotions", shape=to_silver_promotions),
        # A daily batch corrects lines of the past week: files clustered by sale_date let
        # the MERGE rewrite only the files of those dates (docs/benchmark.md).
        SilverDataset(
            "sales",
            target="sales",
            version_order=SALES_ORDER,
            versions=batch_lines,
            shape=to_silver_sales,
            cluster_by="sale_date",
        ),
        SilverDataset(
            "sales_events",
            target="sales",
            version_order=SALES_ORDER,
            versions=event_lines,
            shape=to_silver_sales,
            cluster_by="sale_date",
        ),
        # The order database: lines with their order's header, merged like sale events.
        SilverDataset(
            "oltp_sales",
            target="sales",
            version_order=SALES_ORDER,
            versions=oltp_lines,
            shape=to_silver_sales,
            cluster_by="sale_date",
            sources=(ORDERS, LINES),
            combine=order_line_states,
        ),
    )
}


def silver_dataset(name: str) -> SilverDataset:
    try:
        return SILVER[name]
    except KeyError:
        raise ValueError(f"no silver dataset {name!r}; known: {', '.join(SILVER)}") from None


def feeding(target: str) -> list[SilverDataset]:
    """The datasets whose rows go into ``target``'s table besides ``target``'s own."""
    return [entry for entry in SILVER.values() if entry.feeds_another and entry.target == target]
