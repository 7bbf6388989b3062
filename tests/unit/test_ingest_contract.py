"""The sale-event contract and the ``extends:`` key of contract files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from sales_lakehouse.contracts import DATASETS, load_contract

SALES_COLUMNS = [
    "order_id",
    "line_number",
    "order_ts",
    "store_id",
    "customer_id",
    "product_id",
    "quantity",
    "unit_price",
    "discount_amount",
    "promotion_id",
    "channel",
    "currency",
]


def test_sales_events_has_the_sales_columns_then_its_own() -> None:
    contract = load_contract("sales_events")

    assert contract.column_names == [*SALES_COLUMNS, "event_id", "event_type", "event_ts", "source"]
    assert contract.business_key == ("order_id", "line_number")
    assert contract.event_time == "event_ts"
    assert [rule.name for rule in contract.rules] == ["discount_within_gross"]
    assert contract.column("event_type").allowed == ("sale", "return", "correction")
    for name in ("event_id", "event_type", "event_ts", "source"):
        assert contract.column(name).required
    assert contract.column("event_ts").type == "timestamp"
    # Inherited columns are the parent's, unchanged.
    assert contract.column("unit_price") == load_contract("sales").column("unit_price")


def test_batch_datasets_are_unchanged() -> None:
    assert DATASETS == ("sales", "products", "promotions")


@pytest.fixture
def schemas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty schemas folder used instead of the repository's."""
    monkeypatch.setenv("SALES_LAKEHOUSE_SCHEMAS", str(tmp_path))
    load_contract.cache_clear()
    (tmp_path / "base.yaml").write_text(
        """
dataset: base
description: parent
business_key: [id]
event_time: ts
columns:
  - {name: id, type: string, required: true, description: key}
  - {name: ts, type: timestamp, description: time}
  - {name: amount, type: "decimal(12,2)", min: 0, description: money}
rules:
  - {name: positive, description: d, expr: amount > 0, reason: r}
""",
        encoding="utf-8",
    )
    yield tmp_path
    load_contract.cache_clear()


def test_child_inherits_keys_when_it_leaves_them_out(schemas: Path) -> None:
    (schemas / "child.yaml").write_text(
        """
dataset: child
extends: base
description: child
columns:
  - {name: note, type: string, description: extra}
rules:
  - {name: small, description: d, expr: amount < 10, reason: r}
""",
        encoding="utf-8",
    )

    child = load_contract("child")

    assert child.column_names == ["id", "ts", "amount", "note"]
    assert (child.business_key, child.event_time) == (("id",), "ts")
    assert [rule.name for rule in child.rules] == ["positive", "small"]
    assert child.description == "child"


def test_child_may_not_redeclare_a_parent_column(schemas: Path) -> None:
    (schemas / "child.yaml").write_text(
        "dataset: child\nextends: base\ndescription: c\n"
        "columns:\n  - {name: amount, type: int, description: again}\n",
        encoding="utf-8",
    )

    with pytest.raises(ValidationError, match="duplicate column names"):
        load_contract("child")


def test_child_may_not_repeat_a_rule_name(schemas: Path) -> None:
    (schemas / "child.yaml").write_text(
        "dataset: child\nextends: base\ndescription: c\ncolumns: []\n"
        "rules:\n  - {name: positive, description: d, expr: amount > 1, reason: r}\n",
        encoding="utf-8",
    )

    with pytest.raises(ValueError, match="duplicate rule names"):
        load_contract("child")


def test_extends_cycle_is_reported(schemas: Path) -> None:
    for name, parent in (("a", "b"), ("b", "a")):
        (schemas / f"{name}.yaml").write_text(
            f"dataset: {name}\nextends: {parent}\ndescription: x\ncolumns: []\n",
            encoding="utf-8",
        )

    with pytest.raises(ValueError, match="a -> b -> a"):
        load_contract("a")


def test_unknown_parent_is_reported(schemas: Path) -> None:
    (schemas / "child.yaml").write_text(
        "dataset: child\nextends: nowhere\ndescription: c\ncolumns: []\n", encoding="utf-8"
    )

    with pytest.raises(FileNotFoundError, match="'nowhere'"):
        load_contract("child")
