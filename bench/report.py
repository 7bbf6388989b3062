"""Benchmark results: the stage table (markdown and console), JSON and a PNG chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GIB = 1024**3
PHASES = ("initial", "daily", "large")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if rows and seconds > 0 else "-"


def _gib(value: int | None) -> str:
    return f"{value / GIB:.2f}" if value else "-"


def stage_table(stages: list[dict[str, Any]]) -> str:
    """Markdown table: stage, rows, seconds, rows/s, ratio to reference, Spark jobs, peak
    memory (Python + JVM resident), each process's own resident peak, and the JVM's parts:
    peak heap, peak non-heap (metaspace, code cache) + direct buffers."""
    lines = [
        "| phase | stage | rows | seconds | rows/s | reference s | ratio | jobs "
        "| peak memory GiB | Python GiB | JVM GiB | JVM heap GiB | JVM off-heap GiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for item in stages:
        reference = item.get("reference_seconds")
        ratio = f"{item['seconds'] / reference:.1f}x" if reference else "-"
        jvm = item.get("jvm") or {}
        heap = f"{jvm['heap_peak'] / GIB:.2f}" if jvm else "-"
        offheap = f"{(jvm['nonheap_peak'] + jvm['direct']) / GIB:.2f}" if jvm else "-"
        jobs = item.get("jobs")
        python = item.get("python_peak_bytes")
        jvm_rss = item.get("jvm_rss_peak_bytes")
        lines.append(
            f"| {item['phase']} | {item['stage']} | {item['rows']:,} | "
            f"{_seconds(item['seconds'])} | {_rate(item['rows'], item['seconds'])} | "
            f"{_seconds(reference)} | {ratio} | {'-' if jobs is None else jobs} | "
            f"{item['peak_bytes'] / GIB:.2f} | {_gib(python)} | {_gib(jvm_rss)} | "
            f"{heap} | {offheap} |"
        )
    return "\n".join(lines)


def simple_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_chart(path: Path, stages: list[dict[str, Any]]) -> None:
    """Grouped bars: seconds per phase/stage, ours vs the reference engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [
        s
        for s in stages
        if s["phase"] in PHASES and s["stage"] in ("bronze", "silver", "gold", "reference")
    ]
    labels: list[str] = []
    ours: list[float] = []
    reference: list[float] = []
    for phase in PHASES:
        for item in (s for s in shown if s["phase"] == phase and s["stage"] != "reference"):
            labels.append(f"{phase}\n{item['stage']}")
            ours.append(item["seconds"])
            reference.append(item.get("reference_seconds") or 0.0)
        labels.append(f"{phase}\ntotal")
        ours.append(
            sum(s["seconds"] for s in shown if s["phase"] == phase and s["stage"] != "reference")
        )
        reference.append(
            sum(s["seconds"] for s in shown if s["phase"] == phase and s["stage"] == "reference")
        )
    positions = list(range(len(labels)))
    figure, axes = plt.subplots(figsize=(max(8, len(labels) * 0.9), 4.5))
    axes.bar([p - 0.2 for p in positions], ours, width=0.4, label="Spark + Delta (ours)")
    axes.bar([p + 0.2 for p in positions], reference, width=0.4, label="DuckDB reference")
    axes.set_xticks(positions, labels, fontsize=8)
    axes.set_ylabel("seconds (log scale)")
    axes.set_yscale("log")
    axes.set_title("Stage wall time, same run, same machine")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_results(folder: Path, stem: str, result: dict[str, Any], markdown: str) -> list[Path]:
    """``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.json", folder / f"{stem}.md", folder / f"{stem}.png"]
    paths[0].write_text(json.dumps(result, indent=2, default=str) + "\n", "utf-8")
    paths[1].write_text(markdown + "\n", "utf-8")
    write_chart(paths[2], result["stages"])
    return paths
