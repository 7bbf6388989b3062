"""A class-data archive for local JVMs: Spark's and Delta's classes, loaded once.

A new local JVM spends its first seconds loading and verifying some twenty thousand
classes from Spark's jars. A dynamic class-data archive (JDK 17 AppCDS,
``-XX:ArchiveClassesAtExit``) stores them as the JVM that made it had them after a small
pipeline run; every later JVM on the same Java and the same jars maps the archive
instead (``-XX:SharedArchiveFile``). Measured in docs/benchmark.md ("Tenth round").

- ``python -m sales_lakehouse.runtime.class_archive`` makes it (``make archive``; ``make
  demo``, ``make test`` and ``make bench`` depend on it): a pipeline run and an increment
  over a small generated landing folder, then the JVM's exit writes the archive.
- :func:`java_options` gives the JVM options of a local session: none when there is no
  archive for this Java and these jars, or when ``$SALES_LAKEHOUSE_CLASS_ARCHIVE=off``.
  A JVM refuses a stale or broken archive by itself and starts without it; its CDS log
  lines are turned off so that they do not end up in a command's output.

The archive lives in ``$SALES_LAKEHOUSE_CACHE`` (default ``~/.cache/sales-lakehouse``),
named after a hash of the Java executable and the Spark jars (their paths, sizes and
modification times), so a new pyspark, another venv, a venv installed again or another JDK
gets its own archive instead of an unusable one;
making one deletes all but the two newest other archives. Glue and spark-submit start their own
JVMs: this is for local sessions only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

OFF_ENV = "SALES_LAKEHOUSE_CLASS_ARCHIVE"
CACHE_ENV = "SALES_LAKEHOUSE_CACHE"
QUIET = "-Xlog:cds=off,cds+dynamic=off"
# The small run the archive is made from: every stage, then an increment (MERGE,
# replaceWhere), so that the classes of both paths are in it.
ARCHIVE_LINES, ARCHIVE_SEED = 400, 3
# Archives of other venvs or JDKs kept when a new one is made (the newest ones).
KEEP_OTHERS = 2


def _java() -> str:
    """The java a local session starts (pyspark: $JAVA_HOME/bin/java, else java on PATH)."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java") or "java"
    return os.path.realpath(java)


def _spark_jars() -> list[str]:
    """The jars of pyspark's class path, by path, size and modification time: a JVM maps
    an archive only when each jar has the path, size and mtime it had when the archive was
    made (it refuses it with "A jar file is not the one used while building the shared
    archive file" otherwise), so another venv, or the same venv installed again, gets
    another archive."""
    import pyspark

    jars = Path(pyspark.__file__).resolve().parent / "jars"
    stats = ((p, p.stat()) for p in jars.glob("*.jar"))
    return sorted(f"{p}:{s.st_size}:{int(s.st_mtime)}" for p, s in stats)


def archive_key(java: str | None = None, jars: list[str] | None = None) -> str:
    """A hash of what the archive is only good for: this Java and these Spark jars."""
    parts = [java if java is not None else _java(), *(jars if jars is not None else _spark_jars())]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sales-lakehouse"
    return Path(os.environ.get(CACHE_ENV) or default)


def archive_path(key: str | None = None) -> Path:
    return cache_dir() / f"spark-classes-{key or archive_key()}.jsa"


def java_options(path: Path | None = None) -> list[str]:
    """``-XX:SharedArchiveFile`` for a local JVM when the archive exists, else nothing."""
    if os.environ.get(OFF_ENV, "").lower() in ("off", "0", "false", "no"):
        return []
    archive = path or archive_path()
    return [f"-XX:SharedArchiveFile={archive}", QUIET] if archive.is_file() else []


def make(target: Path | None = None, *, force: bool = False) -> Path | None:
    """Run a small pipeline in a new local JVM that writes the archive as it exits.

    Written to a temporary name and renamed once the JVM has exited, so that no other JVM
    maps half an archive. Returns the archive, or None when the JVM wrote none.
    """
    target = target or archive_path()
    if target.is_file() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    os.environ[OFF_ENV] = "off"  # made from the jars alone, not on top of an old archive
    java_opts = os.environ.get("SALES_LAKEHOUSE_JAVA_OPTS", "")
    dump = f"-XX:ArchiveClassesAtExit={partial} {QUIET}"
    os.environ["SALES_LAKEHOUSE_JAVA_OPTS"] = f"{java_opts} {dump}"
    try:
        _run_small_pipeline()
    finally:
        os.environ["SALES_LAKEHOUSE_JAVA_OPTS"] = java_opts
        os.environ.pop(OFF_ENV, None)
    if not partial.is_file():
        return None
    partial.replace(target)
    prune(target.parent, keep=target)
    return target


def prune(folder: Path, *, keep: Path, others: int = KEEP_OTHERS) -> list[Path]:
    """Delete all but the ``others`` newest archives besides ``keep``: each venv installed
    again gets a new archive (some 170 MiB), and an old one is never used again."""
    archives = sorted(
        (p for p in folder.glob("spark-classes-*.jsa") if p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    gone = archives[others:]
    for old in gone:
        old.unlink(missing_ok=True)
    return gone


def _run_small_pipeline() -> None:
    """A first run and an increment over a generated landing folder, in one JVM; then the
    JVM is stopped and waited for (it writes the archive on its way out)."""
    from sales_lakehouse.config import Settings
    from sales_lakehouse.pipeline import run
    from sales_lakehouse.runtime.session import build_session
    from sales_lakehouse_tools.generate import generate_landing

    with tempfile.TemporaryDirectory(prefix="sales-lakehouse-archive-") as scratch:
        landing, lake = Path(scratch) / "landing", Path(scratch) / "lake"
        generate_landing(landing, lines=ARCHIVE_LINES, seed=ARCHIVE_SEED)
        held = max((landing / "sales").glob("*.csv"))
        aside = Path(scratch) / held.name
        held.rename(aside)
        settings = Settings(landing=str(landing), lake=str(lake))
        spark = build_session(settings, app_name="sales-lakehouse-class-archive")
        gateway = spark.sparkContext._gateway
        run(spark, settings, progress=lambda _: None)
        aside.rename(held)  # lands after the first run: the second run is an increment
        run(spark, Settings(landing=str(landing), lake=str(lake)), progress=lambda _: None)
        spark.stop()
        process = getattr(gateway, "proc", None)
        if process is not None:  # the JVM exits when its stdin closes (PythonGatewayServer)
            process.stdin.close()
            process.wait(timeout=600)


def main() -> int:
    force = "--force" in sys.argv[1:]
    target = archive_path()
    if target.is_file() and not force:
        print(f"class-data archive: {target} (up to date)")
        return 0
    made = make(target, force=force)
    if made is None:
        print("class-data archive: the JVM wrote none; local JVMs start without one")
        return 0
    size = made.stat().st_size / 2**20
    print(f"class-data archive: {made} ({size:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
