"""What a local lake and landing folder hold, read without Spark.

A run that finds nothing new spent nearly all of its time starting the JVM and on the
cold JVM's first queries (22-24 s on the demo lake, docs/benchmark.md). What it needs to
know is small: the tables' versions, the files bronze holds, the watermarks and the held
files. Here those come from the file system and from delta-rs (``deltalake``), so that
``run`` can decide "nothing new" before a Spark session exists
(``pipeline/nothing_new.py``).

- A table's version is the highest ``<version>.json`` in its ``_delta_log``, the rule
  ``delta_log.latest_version`` applies through Hadoop.
- Landed files are listed as ``landing.list_files`` lists them (hidden names skipped,
  sub-folders included) and named as Spark records a file read (``file:/…``, URI-escaped).
  A name escaped differently would only look new, which sends the run to Spark: every
  doubt here ends in the ordinary run, never in a skipped file.
- Table rows are read with delta-rs in a child process (``_delta_rs_child.py``): delta-rs
  aborts the interpreter at exit ("terminate called without an active exception",
  delta-io/delta-rs#2184), which a CLI cannot pass on as its exit status, and a child that
  leaves with ``os._exit`` does not. Without ``deltalake`` installed (the ``local`` extra)
  the reads say so with :class:`PeekUnavailableError`.

Local lakes only: an ``s3a://`` lake or landing is always decided by Spark.
"""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
import sys
import unicodedata
from pathlib import Path
from urllib.parse import quote

from sales_lakehouse.lake import delta_log

_COMMIT = re.compile(r"^(\d{20})\.json$")
CHILD = Path(__file__).with_name("_delta_rs_child.py")
# ASCII characters java.net.URI leaves as they are in a path (RFC 2396 unreserved and
# punctuation); other ASCII characters (a space, %, #, ...) are escaped, as Hadoop's
# Path.toUri does, and so are non-ASCII spaces and controls. Other non-ASCII characters
# (an accented letter) stay as they are.
_URI_SAFE = frozenset("/-_.!~*'();:@&=+$," + string.ascii_letters + string.digits)


def _uri_path(path: str) -> str:
    """``path`` escaped as java.net.URI escapes the path of a ``file:`` URI."""
    return "".join(
        char
        if char in _URI_SAFE
        or (ord(char) > 127 and not char.isspace() and unicodedata.category(char)[0] != "C")
        else quote(char, safe="")
        for char in path
    )


class PeekUnavailableError(RuntimeError):
    """The lake cannot be read without Spark here (no ``deltalake``, a failed read)."""


def local_path(root: str) -> Path:
    """A local root (``DIR`` or ``file://DIR``) as an absolute path, not resolved through
    symlinks (as Hadoop qualifies a relative path: against the working folder)."""
    return Path.cwd() / root.removeprefix("file://")


def log_version(table: str) -> int:
    """The table's latest committed version; -1 when it has no log or no commit yet."""
    try:
        names = [entry.name for entry in (local_path(table) / "_delta_log").iterdir()]
    except FileNotFoundError:
        return -1
    return max((int(m.group(1)) for name in names if (m := _COMMIT.match(name))), default=-1)


def data_changed(table: str, since: int, until: int) -> bool:
    """Whether a commit after version ``since``, up to ``until``, may change the table's rows,
    by the rule ``delta_log.data_changed`` applies through Hadoop (an OPTIMIZE does not)."""
    log = local_path(table) / "_delta_log"
    for version in range(since + 1, until + 1):
        try:
            text = (log / f"{version:020d}.json").read_text("utf-8")
        except FileNotFoundError:
            return True
        if delta_log.changes_data(text.splitlines()):
            return True
    return False


def _hidden(name: str) -> bool:
    """As ``landing._hidden``: names Spark's file listing skips."""
    return (
        (name.startswith("_") and "=" not in name)
        or name.startswith(".")
        or name.endswith("._COPYING_")
    )


def landed_sources(folder: str, suffix: str = ".csv") -> list[str]:
    """The URIs (as bronze's ``_source_file`` holds them) of the files under ``folder``
    that ``landing.list_files`` would list, sorted; empty when the folder does not exist."""
    base = local_path(folder)
    found = []
    # Into linked folders too, as Hadoop's listing goes (Path.walk is Python 3.12+).
    for top, folders, files in os.walk(base, followlinks=True):
        parent = Path(top)
        if any(_hidden(part) for part in parent.relative_to(base).parts):
            folders[:] = []
            continue
        for name in files:
            if name.endswith(suffix) and not _hidden(name):
                found.append("file:" + _uri_path(str(parent / name)))
    return sorted(found)


def distinct_rows(
    tables: dict[str, tuple[str, tuple[str, ...]]],
) -> dict[str, set[tuple[str, ...]]]:
    """For each ``key: (table path, columns)``, the distinct rows of those columns in the
    table's latest version (values as text), read by delta-rs in a child process."""
    if not tables:
        return {}
    request = {
        key: {"path": str(local_path(path)), "columns": list(cols)}
        for key, (path, cols) in tables.items()
    }
    try:
        done = subprocess.run(
            [sys.executable, str(CHILD)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PeekUnavailableError(f"delta-rs reader: {error}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise PeekUnavailableError(f"delta-rs reader exited {done.returncode}: {last}")
    answer = json.loads(done.stdout)
    return {key: {tuple(row) for row in rows} for key, rows in answer.items()}
