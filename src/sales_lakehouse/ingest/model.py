"""The sale-event model, derived at import from the ``sales_events`` contract.

Nothing about a column is typed here: names, types, required/optional, min/max,
allowed values, patterns, decimal precision and defaults all come from
``schemas/sales_events.yaml``, so the Lambda validates exactly what silver will.
The contract's row rules are SQL for Spark; each has a Python twin in
:data:`ROW_RULES`, and building the model fails if a rule has none, so a new rule
can never be skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    create_model,
    model_validator,
)

from sales_lakehouse.contracts import Column, Contract, RowRule, load_contract

DATASET = "sales_events"

_PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "int": int,
    "long": int,
    "timestamp": datetime,
    "date": date,
    "boolean": bool,
}


def _discount_within_gross(event: Mapping[str, Any]) -> bool | None:
    discount, quantity, price = (
        event.get("discount_amount"),
        event.get("quantity"),
        event.get("unit_price"),
    )
    if discount is None or quantity is None or price is None:
        return None
    return bool(discount <= quantity * price)


# Python twins of the contract's SQL row rules: None (an operand is null) passes, as in SQL.
ROW_RULES: dict[str, Callable[[Mapping[str, Any]], bool | None]] = {
    "discount_within_gross": _discount_within_gross,
}


class ContractEvent(BaseModel):
    """Base of the generated model: frozen, no unknown fields, row rules checked last."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contract_rules: ClassVar[tuple[RowRule, ...]] = ()

    @model_validator(mode="after")
    def _row_rules(self) -> ContractEvent:
        values = dict(self)
        for rule in self.contract_rules:
            if ROW_RULES[rule.name](values) is False:
                raise ValueError(f"{rule.name}: {rule.reason}")
        return self


def _as_utc(value: datetime) -> datetime:
    """Timestamps without an offset are UTC (the contract's rule); others are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _blank_to_none(value: Any) -> Any:
    """An empty or blank text means "not given", as in the landing CSVs."""
    return None if isinstance(value, str) and not value.strip() else value


def _one_of(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return check


def _decimal_type(column: Column) -> tuple[Any, ...]:
    precision, scale = column.decimal_precision or (38, 18)
    quantum = Decimal(1).scaleb(-scale)
    return (
        Decimal,
        Field(max_digits=precision, decimal_places=scale, allow_inf_nan=False),
        # Money is written with the contract's scale, "19.9" as "19.90".
        AfterValidator(lambda value: value.quantize(quantum)),
    )


def _value_type(column: Column) -> Any:
    """The annotated Python type of a column's non-null values, constraints included."""
    if column.decimal_precision is not None:
        parts: tuple[Any, ...] = _decimal_type(column)
    else:
        parts = (_PYTHON_TYPES[column.type],)
        if column.type in ("int", "long", "boolean"):
            parts += (Strict(),)  # JSON numbers only: "3" or true is not a quantity
        if column.type == "timestamp":
            parts += (AfterValidator(_as_utc),)
    if column.type == "string" and column.required:
        parts += (Field(min_length=1),)
    if column.pattern is not None:
        parts += (Field(pattern=column.pattern),)
    if column.min is not None:
        parts += (Field(ge=column.min),)
    if column.max is not None:
        parts += (Field(le=column.max),)
    if column.allowed is not None:
        parts += (AfterValidator(_one_of(column.allowed)),)
    return Annotated[parts] if len(parts) > 1 else parts[0]


def _default(column: Column) -> Any:
    """The contract default as a typed value (validated like any input)."""
    probe = create_model("Default", value=(_value_type(column), ...))
    return probe.model_validate({"value": column.default}).value  # type: ignore[attr-defined]


def _field(column: Column) -> tuple[Any, Any]:
    """(annotation, FieldInfo) of one contract column for :func:`pydantic.create_model`."""
    value_type = _value_type(column)
    description = column.description.strip()
    if column.required:
        return value_type, Field(description=description)
    if column.default is not None:
        # Missing, null or blank all mean the contract default.
        default = _default(column)
        nullable = BeforeValidator(
            lambda value: default if _blank_to_none(value) is None else value
        )
        return Annotated[value_type, nullable], Field(default=default, description=description)
    return Annotated[value_type | None, BeforeValidator(_blank_to_none)], Field(
        None, description=description
    )


def build_event_model(contract: Contract) -> type[ContractEvent]:
    """A frozen pydantic model with one field per contract column, in contract order."""
    missing = [rule.name for rule in contract.rules if rule.name not in ROW_RULES]
    if missing:
        raise NotImplementedError(
            f"{contract.dataset}: row rules without a Python twin in ROW_RULES: {missing}"
        )
    fields: dict[str, Any] = {column.name: _field(column) for column in contract.columns}
    model = create_model("SaleEvent", __base__=ContractEvent, __module__=__name__, **fields)
    model.contract_rules = contract.rules
    return model


CONTRACT: Contract = load_contract(DATASET)
SaleEvent: type[ContractEvent] = build_event_model(CONTRACT)


def net_amount(event: Mapping[str, Any]) -> Decimal:
    """quantity x unit_price - discount_amount of a validated event (money stays exact)."""
    return Decimal(event["quantity"] * event["unit_price"] - event["discount_amount"])
