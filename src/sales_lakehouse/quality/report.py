"""Readable quality reports (text and HTML) from result records; stdlib only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sales_lakehouse.quality.results import CheckResult

WORST = 5


def worst_offenders(results: Sequence[CheckResult], limit: int = WORST) -> list[CheckResult]:
    """Failed rules, ``fail`` ones first, then by failing rows."""
    failed = [r for r in results if not r.passed]
    return sorted(failed, key=lambda r: (r.action != "fail", -r.rows_failed, r.rule))[:limit]


STATUSES = ("passed", "quarantined", "warned", "held", "failed", "skipped")


def _counts(results: Sequence[CheckResult]) -> str:
    """'3 passed, 1 warned': passed always, other statuses when they occur."""
    statuses = [r.status for r in results]
    shown = [s for s in STATUSES if s == "passed" or s in statuses]
    return ", ".join(f"{statuses.count(s)} {s}" for s in shown)


def text_report(
    results: Sequence[CheckResult], quarantine: Mapping[str, Sequence[tuple[str, int]]]
) -> list[str]:
    """Lines: per dataset the rules by status, the worst offenders, quarantine by rule."""
    lines = []
    for dataset in sorted({r.dataset for r in results}):
        own = [r for r in results if r.dataset == dataset]
        lines.append(f"{dataset}: {len(own)} rules: {_counts(own)}")
        for r in own:
            if r.status != "passed":
                lines.append(f"  {r.status:<11} {r.rule} ({r.rule_type}): {r.message}")
    offenders = worst_offenders(results)
    if offenders:
        lines.append("worst offenders:")
        for r in offenders:
            sample = f" e.g. {', '.join(r.sample_keys)}" if r.sample_keys else ""
            lines.append(f"  {r.dataset}.{r.rule}: {r.rows_failed} rows failed{sample}")
    for dataset, reasons in quarantine.items():
        total = ", ".join(f"{rule} {count}" for rule, count in reasons) or "empty"
        lines.append(f"quarantine.{dataset} by rule: {total}")
    blocking = [r for r in results if r.blocks]
    lines.append(
        f"result: {len(blocking)} fail rule(s) broke" if blocking else "result: no fail rule broke"
    )
    return lines
