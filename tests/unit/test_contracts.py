from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sales_lakehouse.contracts import DATASETS, load_contract

# The landing interface as the issue states it; the contracts must carry exactly these.
LANDING_COLUMNS = {
    "sales": [
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
    ],
    "products": [
        "product_id",
        "sku",
        "product_name",
        "category",
        "subcategory",
        "brand",
        "unit_cost",
        "list_price",
        "updated_at",
    ],
    "promotions": [
        "promotion_id",
        "promotion_name",
        "promotion_type",
        "discount_pct",
        "product_id",
        "category",
        "start_date",
        "end_date",
        "channel",
        "promo_cost",
    ],
}


@pytest.mark.parametrize("dataset", DATASETS)
def test_contracts_declare_the_landing_columns(dataset: str) -> None:
    contract = load_contract(dataset)
    assert contract.column_names == LANDING_COLUMNS[dataset]
    assert all(column.description for column in contract.columns)


def test_sales_required_columns_and_money_types() -> None:
    sales = load_contract("sales")
    assert sales.required_columns == [
        "order_id",
        "line_number",
        "order_ts",
        "store_id",
        "product_id",
        "quantity",
        "unit_price",
    ]
    assert sales.column("unit_price").decimal_precision == (12, 2)
    assert sales.column("discount_amount").default == "0"


def test_a_contract_with_an_unknown_key_column_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sales.yaml").write_text(
        "dataset: sales\ndescription: d\nbusiness_key: [nope]\nevent_time: a\n"
        "columns:\n  - {name: a, type: string, description: x}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SALES_LAKEHOUSE_SCHEMAS", str(tmp_path))
    load_contract.cache_clear()
    try:
        with pytest.raises(ValidationError, match="'nope' is not a column"):
            load_contract("sales")
    finally:
        load_contract.cache_clear()


def test_a_contract_with_an_unknown_type_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sales.yaml").write_text(
        "dataset: sales\ndescription: d\nbusiness_key: [a]\nevent_time: a\n"
        "columns:\n  - {name: a, type: money, description: x}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SALES_LAKEHOUSE_SCHEMAS", str(tmp_path))
    load_contract.cache_clear()
    try:
        with pytest.raises(ValidationError, match="unknown type 'money'"):
            load_contract("sales")
    finally:
        load_contract.cache_clear()
