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

A lake or landing zone on S3 (``s3a://``) is read the same way: its keys are listed and
its commits read with boto3 (endpoint and region from AWS's own variables, as the lake
lock and S3A take them), table rows with delta-rs given the same endpoint; a landed object
is named as Spark names it (``s3a://bucket/key``, URI-escaped). Without boto3, or when S3
or delta-rs refuses, :class:`PeekUnavailableError` sends the run to Spark.
"""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
import sys
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any
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


S3_SCHEMES = ("s3a://", "s3://", "s3n://")


def is_s3(root: str) -> bool:
    return root.startswith(S3_SCHEMES)


def _bucket_key(root: str) -> tuple[str, str]:
    """``s3a://bucket/some/prefix/`` as (bucket, ``some/prefix``)."""
    bucket, _, key = root.split("://", 1)[1].partition("/")
    return bucket, key.strip("/")


def _s3() -> Any:
    """A boto3 S3 client with the endpoint and region of AWS's own variables."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return _s3_client(endpoint)


@cache
def _s3_client(endpoint: str | None) -> Any:
    try:
        from sales_lakehouse.aws import client
    except ImportError as error:  # boto3 is not installed
        raise PeekUnavailableError(f"S3 without boto3: {error}") from None
    return client("s3", endpoint)


def _s3_keys(root: str) -> list[str]:
    """Every key under the folder ``root`` (paginated), relative to it."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = _bucket_key(root)
    start = f"{prefix}/" if prefix else ""
    keys: list[str] = []
    try:
        for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=start):
            keys += [item["Key"].removeprefix(start) for item in page.get("Contents", [])]
    except (BotoCoreError, ClientError) as error:
        raise PeekUnavailableError(f"cannot list {root}: {error}") from None
    return keys


def _s3_text(path: str) -> str | None:
    """An object's text; None when there is no such object."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = _bucket_key(path)
    try:
        body = _s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise PeekUnavailableError(f"cannot read {path}: {error}") from None
    except BotoCoreError as error:
        raise PeekUnavailableError(f"cannot read {path}: {error}") from None
    return bytes(body).decode("utf-8")


def storage_options(env: dict[str, str] | None = None) -> dict[str, str]:
    """delta-rs's options for S3 from AWS's variables: the endpoint (plain HTTP allowed
    when it is ``http://``) and the region. Credentials it reads from the environment."""
    env = dict(os.environ) if env is None else env
    options: dict[str, str] = {}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["AWS_REGION"] = region
    return options


def folder_exists(root: str) -> bool:
    """Whether the folder (or, on S3, some object under the prefix) exists."""
    if is_s3(root):
        return bool(_s3_keys(root))
    return local_path(root).is_dir()


def local_path(root: str) -> Path:
    """A local root (``DIR`` or ``file://DIR``) as an absolute path, not resolved through
    symlinks (as Hadoop qualifies a relative path: against the working folder)."""
    return Path.cwd() / root.removeprefix("file://")


def log_version(table: str) -> int:
    """The table's latest committed version; -1 when it has no log or no commit yet."""
    if is_s3(table):
        names = _s3_keys(f"{table.rstrip('/')}/_delta_log")
    else:
        try:
            names = [entry.name for entry in (local_path(table) / "_delta_log").iterdir()]
        except FileNotFoundError:
            return -1
    return max((int(m.group(1)) for name in names if (m := _COMMIT.match(name))), default=-1)


def data_changed(table: str, since: int, until: int) -> bool:
    """Whether a commit after version ``since``, up to ``until``, may change the table's rows,
    by the rule ``delta_log.data_changed`` applies through Hadoop (an OPTIMIZE does not)."""
    for version in range(since + 1, until + 1):
        text = _commit_text(table, version)
        if text is None:
            return True
        if delta_log.changes_data(text.splitlines()):
            return True
    return False


def _commit_text(table: str, version: int) -> str | None:
    name = f"_delta_log/{version:020d}.json"
    if is_s3(table):
        return _s3_text(f"{table.rstrip('/')}/{name}")
    try:
        return (local_path(table) / name).read_text("utf-8")
    except FileNotFoundError:
        return None


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
    if is_s3(folder):
        bucket, prefix = _bucket_key(folder)
        found = [
            f"s3a://{bucket}" + _uri_path(f"/{prefix}/{key}" if prefix else f"/{key}")
            for key in _s3_keys(folder)
            if key.endswith(suffix) and not any(_hidden(part) for part in key.split("/"))
        ]
        return sorted(found)
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
        key: {
            "path": "s3://" + "/".join(_bucket_key(path)) if is_s3(path) else str(local_path(path)),
            "columns": list(cols),
            "storage_options": storage_options() if is_s3(path) else {},
        }
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
