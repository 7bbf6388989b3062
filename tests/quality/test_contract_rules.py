"""The data-quality suite: one test per rule of the contracts (id ``dataset.rule``).

Run against any lake with ``pytest tests/quality --lake DIR``. A broken ``fail`` rule
fails its test; a ``warn`` or ``quarantine`` rule that found rows is reported as xfail
with the count and sample keys (those rows were kept or quarantined by design, and demo
data has such defects on purpose); a check that could not be judged is skipped.
"""

from __future__ import annotations

import pytest

from sales_lakehouse.contracts import DATASETS, load_contract
from sales_lakehouse.quality.results import CheckResult
from sales_lakehouse.quality.rule_specs import RuleSpec, rule_specs

pytestmark = pytest.mark.integration

SPECS = [spec for dataset in DATASETS for spec in rule_specs(load_contract(dataset))]


def _detail(result: CheckResult) -> str:
    parts = [f"{result.rows_failed} of {result.rows_checked} failed", result.message]
    if result.observed:
        parts.append(f"observed {result.observed}")
    if result.threshold:
        parts.append(f"threshold {result.threshold}")
    if result.sample_keys:
        parts.append(f"e.g. {', '.join(result.sample_keys)}")
    return "; ".join(parts)


@pytest.mark.parametrize("spec", SPECS, ids=[spec.test_id for spec in SPECS])
def test_rule(spec: RuleSpec, quality_results: dict[str, CheckResult]) -> None:
    result = quality_results.get(spec.test_id)
    if result is None:
        pytest.skip(f"{spec.dataset} is not in the lake")
    if result.skipped:
        pytest.skip(result.message)
    if result.passed:
        return
    if result.action == "fail":
        pytest.fail(f"{spec.test_id} ({spec.rule_type}, fail): {_detail(result)}")
    pytest.xfail(f"{result.action}: {_detail(result)}")
