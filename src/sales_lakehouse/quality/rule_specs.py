"""Every rule a contract declares, by name, without building any Spark column.

The pytest quality suite parametrizes over this list at collection time, before a Spark
session exists, and the engine uses it to report rules that no row broke. The names must
match :func:`sales_lakehouse.quality.rules.contract_checks`; a unit test keeps them equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sales_lakehouse.contracts import Contract

MALFORMED_RULE = "malformed_line"


@dataclass(frozen=True)
class RuleSpec:
    """One rule of a contract: its name, type, action and whether it judges rows or data sets."""

    dataset: str
    rule: str
    rule_type: str
    action: str
    level: Literal["row", "dataset"]
    description: str

    @property
    def test_id(self) -> str:
        """``dataset.rule``: the id of the rule's test in the pytest quality suite."""
        return f"{self.dataset}.{self.rule}"


def row_rule_specs(contract: Contract) -> list[RuleSpec]:
    """Row-level rules in evaluation order: malformed lines, column rules, SQL row rules."""
    ds = contract.dataset
    specs = [
        RuleSpec(
            ds,
            MALFORMED_RULE,
            "malformed",
            "quarantine",
            "row",
            "line has the header's field count",
        )
    ]
    for column in contract.columns:
        kinds = [
            ("required", column.required, f"{column.name} is present"),
            ("type", True, f"{column.name} parses as {column.type}"),
            ("min", column.min is not None, f"{column.name} >= {column.min}"),
            ("max", column.max is not None, f"{column.name} <= {column.max}"),
            ("allowed", column.allowed is not None, f"{column.name} in {column.allowed}"),
            ("pattern", column.pattern is not None, f"{column.name} matches {column.pattern}"),
        ]
        specs += [
            RuleSpec(ds, f"{column.name}_{kind}", kind, "quarantine", "row", text)
            for kind, applies, text in kinds
            if applies
        ]
    specs += [
        RuleSpec(ds, rule.name, "row_rule", rule.action, "row", rule.description)
        for rule in contract.rules
    ]
    return specs


def check_specs(contract: Contract) -> list[RuleSpec]:
    """Dataset-level checks of the contract."""
    return [
        RuleSpec(contract.dataset, c.name, c.type, c.action, "dataset", c.description.strip())
        for c in contract.checks
    ]


def rule_specs(contract: Contract) -> list[RuleSpec]:
    """Every rule of the contract: row-level rules, then dataset-level checks."""
    return [*row_rule_specs(contract), *check_specs(contract)]
