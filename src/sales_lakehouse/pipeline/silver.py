"""Silver stage: validate the bronze rows not processed yet, quarantine, dedupe, MERGE.

Which bronze rows are new is decided by a watermark (the last bronze version processed)
and the bronze change feed. Every write of the stage is safe to replay: quarantine
appends carry a Delta transaction id, and MERGE rewrites only rows whose values changed.

What each dataset is (its target table, version order, transforms, write mode and
clustering) comes from the registry (``datasets.py``); this stage is generic over it. A
dataset that feeds another's table (sale events: silver.sales) is staged after that
dataset and merged into the same table, on the same business key; which version of a row
wins is decided by its version order (sales: the line's change time, ``silver/sales.py``),
so late or out-of-order events land the same. Its rejected rows go to its own quarantine
table (quarantine.sales_events).

Quality: every dataset of the stage is staged first; the row rules' results and the
contracts' dataset checks are evaluated on the staged (not yet committed) batches and
tables and appended to ``quality.dq_results``; a ``fail`` rule that broke then stops the
stage with :class:`StageFailedError` before its first data commit, leaving silver,
quarantine and the watermarks of every dataset untouched.

Isolation by file: when the broken ``fail`` rule is one judged file by file (the
quarantine share) and the batch holds several landed files, the files whose own rows
break it are held back (``meta.held_files``, ``lake/held_files.py``) and the batch is
staged again without them; the rest commits, and the run reports the held files (the CLI
exits 1). Held and rejected files are left out of every later batch; a file an operator
released is taken into the next one, exempt from the quarantine share it broke.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.contracts import Contract, output_schema
from sales_lakehouse.datasets import SilverDataset, feeding, silver_dataset
from sales_lakehouse.lake import Lake, in_strings
from sales_lakehouse.lake.held_files import HELD, MERGED, REJECTED, RELEASED, HeldFile
from sales_lakehouse.pipeline.held import file_result
from sales_lakehouse.pipeline.quality import (
    CACHED,
    CHECK_ORDER,
    context,
    record_and_guard,
    references,
    row_count_history,
)
from sales_lakehouse.pipeline.summary import (
    AccountingError,
    Progress,
    StageStats,
)
from sales_lakehouse.quality.checks import RunCounts
from sales_lakehouse.quality.checks import RunCounts as Counts
from sales_lakehouse.quality.engine import (
    CheckInputs,
    evaluate_checks,
    judge_batch,
    stage_checks,
)
from sales_lakehouse.quality.isolation import (
    ISOLATING,
    SOURCE_FILE,
    FileCounts,
    file_counts,
    files_to_hold,
)
from sales_lakehouse.quality.results import CheckResult, EvalContext, blocking
from sales_lakehouse.silver.common import (
    accepted_rows,
    count_versions,
    latest_per_key,
    rejected_rows,
    to_quarantine,
    validate,
)
from sales_lakehouse.silver.merge import (
    Condition,
    changed_rows,
    newer_and_different,
    scd2_changed,
    table_after,
    touched_values,
    within_dates,
)


def versions(entry: SilverDataset, accepted: DataFrame) -> DataFrame:
    """Accepted rows as versions of the target table's rows (sales: sale-line versions)."""
    return entry.versions(accepted, entry.target_contract)


def shape_silver(entry: SilverDataset, latest: DataFrame) -> DataFrame:
    """The dataset's silver rows for its latest valid versions (products: before SCD2)."""
    return entry.shape(latest, entry.target_contract)


def _bronze_batch(lake: Lake, dataset: str, since: int | None, until: int) -> DataFrame:
    """Bronze rows added after version ``since`` up to ``until`` (all rows when None)."""
    if since is None:
        return lake.read("bronze", dataset, version=until)
    if since >= until:  # nothing new (a batch of released files only)
        return lake.read("bronze", dataset, version=until).limit(0)
    changes = lake.changes("bronze", dataset, since + 1, until)
    return changes.filter(F.col("_change_type") == "insert").drop(
        "_change_type", "_commit_version", "_commit_timestamp"
    )


@dataclass
class StagedSilver:
    """One dataset's silver batch, validated and checked but not committed yet.

    ``validated`` and ``rows`` are persisted until :meth:`release`. ``stored`` is the
    whole target table as the batch finds it; ``existing`` the part of it the batch can
    touch: on an increment of a clustered target, the rows with the ``sale_date`` values of
    the batch's keys, old or new (``within``, which also limits the MERGE). ``table`` is that part
    after the commit: what the unique, referential and freshness checks judge.
    """

    entry: SilverDataset
    stats: StageStats
    until: dict[str, int]  # bronze table -> the version the batch reads up to
    from_scratch: bool
    all_bronze: bool = False
    before: StagedSilver | None = None
    validated: DataFrame | None = None
    rows: DataFrame | None = None
    quarantine: DataFrame | None = None
    stored: DataFrame | None = None
    existing: DataFrame | None = None
    within: Condition | None = None
    table: DataFrame | None = None
    whole: DataFrame | None = None
    counts: RunCounts | None = None
    results: list[CheckResult] = field(default_factory=list)
    # Files left out (held or rejected) and taken in whatever the watermark (released).
    skip: frozenset[str] = frozenset()
    released: frozenset[str] = frozenset()
    # Files an operator let through (released or merged): never held again, and the
    # quarantine share is judged without them.
    exempt: frozenset[str] = frozenset()
    held: list[HeldFile] = field(default_factory=list)  # held back by this run

    @property
    def dataset(self) -> str:
        return self.entry.name

    @property
    def contract(self) -> Contract:
        return self.entry.contract

    @property
    def consumer(self) -> str:
        return f"silver_{self.dataset}"

    @property
    def target(self) -> str:
        return self.entry.target

    @property
    def watermarks(self) -> dict[str, int]:
        """What the commit records as processed: ``bronze/<table>`` -> version."""
        return {f"bronze/{table}": version for table, version in self.until.items()}

    def release(self) -> None:
        for df in (self.table, self.rows, self.validated):
            if df is not None:
                df.unpersist()


def run_silver(
    lake: Lake, datasets: Sequence[str], *, full_refresh: bool, progress: Progress
) -> list[StageStats]:
    """Bring silver and quarantine up to date with bronze for ``datasets``, all or nothing.

    Every dataset is staged and checked first (references before the datasets pointing at
    them, so a referential check sees the staged products); the results of all of them
    are appended to ``quality.dq_results``; a broken ``fail`` rule then raises
    :class:`StageFailedError` before any silver, quarantine or watermark commit.
    """
    ctx = context(lake.settings, "silver")
    holds = lake.held.current()
    order = stage_order(lake, datasets)
    staged: list[StagedSilver] = []
    try:
        for dataset in order:
            tables = {s.dataset: s.table for s in staged if s.table is not None}
            entry = silver_dataset(dataset)
            before = next((s for s in staged if s.dataset == entry.target), None)
            stage = functools.partial(
                stage_silver,
                lake,
                dataset,
                full_refresh=full_refresh,
                ctx=ctx,
                staged=tables,
                before=before if entry.feeds_another else None,
                holds=[h for h in holds if h.dataset == dataset],
            )
            batch = stage()
            held = isolate(batch, ctx)
            if held:  # staged again without the files whose own rows broke the rule
                batch.release()
                paths = frozenset(h.source_file for h in held)
                progress(f"silver {dataset}: holding back {', '.join(sorted(paths))}")
                batch = stage(hold=paths)
                _add_held(batch, held, ctx)
            staged.append(batch)
        results = [r for s in staged for r in s.results]
        failing = sorted({r.dataset for r in blocking(results)})
        record_and_guard(lake, "silver", ", ".join(failing), results)
        # Before any data commit: a file is never left behind a watermark unrecorded.
        lake.held.record(h for batch in staged for h in batch.held)
        for batch in staged:
            commit_silver(lake, batch, progress)
        # One commit for every dataset's watermark, after all their data commits: a run
        # stopped before it processes the stage's batches again, and every data write
        # above is safe to replay (quarantine by file, MERGE of changed rows only).
        lake.watermarks.record_all(
            {batch.consumer: batch.watermarks for batch in staged if batch.validated is not None}
        )
        lake.held.record(
            HeldFile(batch.dataset, path, MERGED, ctx.run_id)
            for batch in staged
            if batch.validated is not None
            for path in sorted(batch.released)
        )
    finally:
        # Latest first: a batch's plans read the cached rows of the batches staged before
        # it (sale events: the sales batch). Uncaching those first made Spark re-plan and
        # re-cache every dependent plan, then drop it: 8 s of a 35 s events stage.
        for batch in reversed(staged):
            batch.release()
    return [batch.stats for batch in staged]


def stage_order(lake: Lake, datasets: Sequence[str]) -> list[str]:
    """The datasets in the order the stage stages them: references first (a referential
    check sees the staged products), then the datasets feeding another's table (sale
    events, the order database) after their target's own rows."""
    order = sorted(datasets, key=CHECK_ORDER.index)
    return order + [
        entry.name
        for target in list(order)
        for entry in feeding(target)
        if all(lake.exists("bronze", table) for table in entry.bronze_tables)
    ]


def lake_rows(lake: Lake, datasets: Sequence[str], *, enough: int) -> int:
    """Rows of the bronze tables of ``datasets``: every row landed so far (bronze is
    append-only, so what its commits wrote, from the Delta logs: no Spark job). The size
    of the lake the silver and gold stages work on, whatever the batch. Counting stops
    at ``enough``."""
    rows = 0
    for dataset in stage_order(lake, datasets):
        for table in silver_dataset(dataset).bronze_tables:
            if lake.exists("bronze", table):
                rows += lake.rows_added_since("bronze", table, -1, enough=enough - rows)
            if rows >= enough:
                return rows
    return rows


def stage_silver(
    lake: Lake,
    dataset: str,
    *,
    full_refresh: bool,
    ctx: EvalContext,
    staged: Mapping[str, DataFrame],
    before: StagedSilver | None = None,
    holds: Sequence[HeldFile] = (),
    hold: frozenset[str] = frozenset(),
) -> StagedSilver:
    """Validate the new bronze rows, split and deduplicate them, and evaluate every rule.

    ``staged``: other datasets' staged tables, which referential checks prefer to the
    committed ones. ``before``: the staged batch committed earlier in this run into the
    same silver table (sales events: the sales batch), which the rows are compared with.
    ``holds``: the dataset's held-file states (held and rejected files are left out,
    released ones taken in); ``hold``: more files to leave out (held by this run).
    Nothing is written.
    """
    entry = silver_dataset(dataset)
    contract = entry.contract
    tables = entry.bronze_tables
    until = {table: lake.version("bronze", table) for table in tables}
    since = {
        table: None if full_refresh else lake.watermarks.get(f"silver_{dataset}", f"bronze/{table}")
        for table in tables
    }
    # Rebuilt from scratch on a full refresh or when there is no table yet; otherwise
    # merged (also when the watermark is missing: another source may have rows there).
    from_scratch = full_refresh or not lake.exists("silver", entry.target)
    if entry.feeds_another:  # never replaces its target: the target's own batch does
        from_scratch = False
    batch = StagedSilver(
        entry,
        StageStats("silver", dataset),
        until,
        from_scratch,
        all_bronze=all(version is None for version in since.values()),
        before=before,
        skip=frozenset(h.source_file for h in holds if h.status in (HELD, REJECTED)) | hold,
        released=frozenset(h.source_file for h in holds if h.status == RELEASED),
    )
    # A merged file is in a batch again only when the batch is the whole of bronze.
    batch.exempt = batch.released | frozenset(
        h.source_file for h in holds if h.status == MERGED and batch.all_bronze
    )
    nothing_new = since == until and not batch.released
    if any(version < 0 for version in until.values()) or nothing_new:
        return batch
    new = {table: _bronze_batch(lake, table, since[table], until[table]) for table in tables}
    if entry.combine is None:
        rows = _without_held(lake, batch, new[dataset])
    else:  # several bronze tables: their new rows and everything stored up to the batch
        stored = {table: lake.read("bronze", table, version=until[table]) for table in tables}
        rows = entry.combine(new, stored, contract)
    defaults = {"currency": lake.settings.default_currency}
    validated = validate(rows, contract, defaults)
    batch.validated = validated.persist(CACHED)
    batch.results = _count_validated(batch.validated, contract, batch.stats, ctx)
    if blocking(batch.results):
        return batch  # the row rules already stop the stage; no need to stage further
    _stage_rows(lake, batch)
    assert batch.table is not None and batch.counts is not None
    inputs = CheckInputs(
        table=batch.table,
        whole=batch.whole,
        rows=batch.counts.rows_in,
        counts=batch.counts,
        references={**references(lake, contract), **staged},
        history=row_count_history(lake, "silver", dataset, ctx.run_id),
    )
    if batch.exempt:  # judged without the files an operator let through knowingly
        exempt = [f for f in file_counts(batch.validated) if f.source_file in batch.exempt]
        inputs = replace(
            inputs,
            judged=Counts(
                batch.counts.rows_in - sum(f.rows for f in exempt),
                batch.counts.quarantined - sum(f.quarantined for f in exempt),
            ),
        )
    checks = evaluate_checks(contract, inputs, ctx, stage_checks(contract, "silver"))
    batch.results += checks
    batch.stats.quality_warnings = [
        f"{r.rule}: {r.message}" for r in checks if not r.passed and r.action == "warn"
    ]
    return batch


def _without_held(lake: Lake, batch: StagedSilver, rows: DataFrame) -> DataFrame:
    """The batch's rows without held or rejected files, with every row of released files
    (also those before the watermark: they were held back when it passed them)."""
    left_out = batch.skip | batch.released
    if not left_out:
        return rows
    source = F.col(SOURCE_FILE)
    rows = rows.filter(~source.isin(*sorted(left_out)))
    if batch.released:
        stored = lake.read("bronze", batch.dataset, version=batch.until[batch.dataset])
        rows = rows.unionByName(stored.filter(source.isin(*sorted(batch.released))))
    return rows


def isolate(batch: StagedSilver, ctx: EvalContext) -> list[HeldFile]:
    """The files to hold back so that the rest of the batch passes (docs: isolation).

    Empty unless every broken ``fail`` rule is one judged file by file, the dataset's
    rows come from landed files, and holding files leaves some of the batch.
    """
    broken = blocking(batch.results)
    if not broken or batch.validated is None or batch.entry.combine is not None:
        return []
    if any(r.rule_type not in ISOLATING for r in broken):
        return []
    files = [f for f in file_counts(batch.validated) if f.source_file not in batch.exempt]
    checks = {c.name: c for c in batch.contract.checks}
    held: dict[str, tuple[FileCounts, CheckResult]] = {}
    for result in broken:
        for file in files_to_hold(checks[result.rule], files):
            held.setdefault(file.source_file, (file, result))
    if not held or len(held) == len(files):
        return []
    return [
        HeldFile(
            batch.dataset,
            file.source_file,
            HELD,
            ctx.run_id,
            rule=result.rule,
            observed=f"{file.observed()}, limit {result.threshold}",
            rows=file.rows,
            quarantined=file.quarantined,
        )
        for file, result in held.values()
    ]


def _add_held(batch: StagedSilver, held: list[HeldFile], ctx: EvalContext) -> None:
    """Account for the held files in the restaged batch: stats and one result per file."""
    batch.held = held
    rows = sum(h.rows or 0 for h in held)
    batch.stats.rows_in += rows
    batch.stats.held += rows
    batch.stats.held_files = [(h.source_file, h.observed or "") for h in held]
    batch.results += [
        file_result(
            ctx,
            h,
            "quarantine_fraction",
            "hold",
            f"held back {h.source_file}: {h.observed}; the rest of the batch went on",
            passed=False,
        )
        for h in held
    ]


def _count_validated(
    validated: DataFrame, contract: Contract, stats: StageStats, ctx: EvalContext
) -> list[CheckResult]:
    """Count rows in, quarantined and warned; return every row rule's result."""
    counts, results = judge_batch(validated, contract, ctx)
    stats.rows_in, stats.quarantined = counts.rows_in, counts.quarantined
    stats.warnings = counts.flagged - counts.quarantined
    return results


def _stage_rows(lake: Lake, batch: StagedSilver) -> None:
    """Quarantine rows, the changed latest versions (persisted) and the batch accounting."""
    assert batch.validated is not None
    entry, contract, stats = batch.entry, batch.contract, batch.stats
    dataset, keys, order = entry.name, list(contract.business_key), entry.version_order
    quarantined_at = datetime.now(UTC).replace(tzinfo=None)
    batch.quarantine = to_quarantine(rejected_rows(batch.validated), contract, quarantined_at)
    accepted = versions(entry, accepted_rows(batch.validated))
    candidates, superseded_count, repeated = count_versions(accepted, keys)
    latest, _ = latest_per_key(accepted, keys, order, repeated=repeated)
    if stats.rows_in != stats.quarantined + superseded_count + candidates:
        raise AccountingError(
            f"silver {dataset}: {stats.rows_in} rows in, but {stats.quarantined} quarantined + "
            f"{superseded_count} superseded + {candidates} latest"
        )
    batch.stored = batch.existing = _silver_before(lake, batch)
    if not batch.from_scratch and entry.prune_by is not None:
        # Only rows on the dates the batch's keys are on (stored or new) can change: the
        # comparison, the checks and the MERGE read the files of those dates only.
        column = entry.prune_by
        touched = touched_values(shape_silver(entry, latest), batch.stored, keys, column)
        batch.within = within_dates(column, [row[column] for row in touched.collect()])
        if batch.within is not None:
            batch.existing = batch.stored.filter(batch.within(F.col, F.col))
    batch.rows = changed_rows(latest, batch.existing, keys, order).persist(CACHED)
    stats.accepted = batch.rows.count()
    stats.duplicates = stats.rows_in - stats.quarantined - stats.accepted
    # Counted independently of stats.duplicates: superseded copies in the batch plus
    # latest versions identical to what silver holds.
    duplicates = superseded_count + candidates - stats.accepted
    batch.counts = RunCounts(stats.rows_in, stats.quarantined, stats.accepted, duplicates)
    batch.table = table_after(batch.existing, batch.rows, entry.target_contract)
    if not batch.from_scratch:
        # Judged by every table check (unique, each referential, ...): read from the
        # stored table and compared with the batch once, not once per check. A rebuild's
        # table is the persisted rows themselves.
        batch.table = batch.table.persist(CACHED)
    if batch.existing is not batch.stored:
        batch.whole = table_after(batch.stored, batch.rows, entry.target_contract)


def _silver_before(lake: Lake, batch: StagedSilver) -> DataFrame:
    """The target silver table as the batch will find it at its commit: empty when it is
    rebuilt, the committed table after ``batch.before``'s rows when another source of the
    same table commits first in this run, else the committed table."""
    before = batch.before
    if before is not None and before.rows is not None and before.stored is not None:
        staged = shape_silver(before.entry, before.rows)
        keys = list(before.contract.business_key)
        kept = before.stored.join(staged.select(*keys), keys, how="left_anti")
        return kept.unionByName(staged)
    if batch.from_scratch or not lake.exists("silver", batch.target):
        return _empty_silver(lake, batch.entry)
    return lake.read("silver", batch.target)


def commit_silver(lake: Lake, batch: StagedSilver, progress: Progress) -> None:
    """Write a staged batch: quarantine, then silver (overwrite or MERGE); the stage
    records the watermarks of all its batches afterwards (:func:`run_silver`)."""
    dataset, stats = batch.dataset, batch.stats
    if batch.validated is None:
        progress(f"silver {dataset}: nothing new in bronze")
        return
    assert batch.rows is not None and batch.quarantine is not None
    assert batch.existing is not None
    if not stats.balanced:
        raise AccountingError(
            f"{dataset}: {stats.rows_in} rows in but {stats.accepted} accepted + "
            f"{stats.quarantined} quarantined + {stats.duplicates} duplicates + "
            f"{stats.held} held"
        )
    entry, target = batch.entry, batch.target
    silver_schema = output_schema("silver", target)
    if batch.all_bronze:  # every bronze row was validated: the whole quarantine
        lake.overwrite(batch.quarantine, "quarantine", dataset)
    else:
        _replace_quarantine(lake, batch)
    if not batch.from_scratch:  # merged into: it must exist (a rebuild creates it)
        lake.ensure("silver", target, silver_schema, change_feed=True)
    if batch.from_scratch:
        silver = shape_silver(entry, batch.rows)
        lake.overwrite(silver, "silver", target, change_feed=True, cluster_by=entry.cluster_by)
    elif entry.write == "scd2":
        _merge_history(lake, entry, batch.rows, batch.existing)
    else:
        _upsert(lake, entry, batch.rows, batch.within)
    held = f", {stats.held} held back" if stats.held else ""
    progress(
        f"silver {dataset}: {stats.rows_in} rows in, {stats.accepted} accepted, "
        f"{stats.quarantined} quarantined, {stats.duplicates} duplicates{held}"
    )


def _replace_quarantine(lake: Lake, batch: StagedSilver) -> None:
    """Replace the quarantine rows of the batch's files with the batch's: a replay, or a
    rerun whose batch grew since a killed run wrote them, leaves each bad row once.

    A file is in one batch only (held files are left out until released, and then come
    alone), so no other batch's rows are touched.
    """
    assert batch.validated is not None and batch.quarantine is not None
    files = sorted(row[0] for row in batch.validated.select(SOURCE_FILE).distinct().collect())
    if files:
        lake.replace_where(
            batch.quarantine, "quarantine", batch.dataset, in_strings(SOURCE_FILE, files)
        )


def _empty_silver(lake: Lake, entry: SilverDataset) -> DataFrame:
    """The silver shape of the dataset's target with no rows (the schema on creation)."""
    return lake.spark.createDataFrame([], output_schema("silver", entry.target))


def _upsert(lake: Lake, entry: SilverDataset, rows: DataFrame, within: Condition | None) -> None:
    """MERGE a staged batch into its silver table on the business key: a stored row is
    replaced by a newer, different version; with ``within`` (the dates the batch
    touches), only the files of those dates are read and rewritten."""
    silver = shape_silver(entry, rows)
    keys = list(entry.contract.business_key)
    lake.merge(
        silver,
        "silver",
        entry.target,
        keys,
        update_when=newer_and_different(entry.version_order),
        within=within,
    )


def _merge_history(lake: Lake, entry: SilverDataset, rows: DataFrame, existing: DataFrame) -> None:
    """SCD2: rebuild the version history of every ``history_key`` the batch touches from
    the stored and the new versions, then MERGE the rows whose values or validity changed."""
    assert entry.history is not None, f"{entry.name}: scd2 without a history builder"
    affected = rows.select(*entry.history_key).distinct()
    history = existing.join(affected, list(entry.history_key), how="left_semi")
    versions = entry.history(history, rows, entry.target_contract)
    keys = list(entry.contract.business_key)
    lake.merge(versions, "silver", entry.target, keys, update_when=scd2_changed)
