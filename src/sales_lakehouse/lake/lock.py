"""One writer at a time on a lake: a lock object at ``<lake>/_lock.json``.

Two pipeline runs on one lake at once would interleave their batches: both read the same
watermarks, both merge the same rows, and Delta's default S3 log store does not even keep
concurrent commits apart. So ``run`` and ``maintain`` take the lake's lock first, and a
second one stops at once with one line naming the holder. Nothing is written before the
lock is held.

- **Taking it** is one atomic create: ``O_CREAT | O_EXCL`` on a local lake, a conditional
  ``PutObject`` (``If-None-Match: *``) on S3. Exactly one of two racing runs gets it.
- **The holder** records its run id, command, host, process id and start time, and
  refreshes ``heartbeat_at`` every :data:`HEARTBEAT_SECONDS` from a daemon thread.
- **A stale lock**, left by a run that was killed, is recognised and taken over:
  - on the same host, when its process no longer exists;
  - anywhere, when its heartbeat is older than :data:`STALE_AFTER` (a killed Glue job).
- **Taking over** is atomic too: on S3, a ``PutObject`` conditional on the stale lock's
  ETag (``If-Match``); locally, a rename of the stale file to a name of its own before the
  exclusive create. Of two runs taking over the same stale lock, one wins and the other is
  refused.

boto3 for S3 (the lake's ``s3a://`` root is read as ``bucket/key``), no Spark.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sales_lakehouse.background import repeating

LOCK_NAME = "_lock.json"
HEARTBEAT_SECONDS = 30.0
STALE_AFTER = timedelta(minutes=10)


class LakeLockedError(RuntimeError):
    """Another run holds the lake; the message names it."""


@dataclass(frozen=True)
class Holder:
    run_id: str
    command: str
    host: str
    pid: int
    started_at: str
    heartbeat_at: str

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, body: bytes) -> Holder | None:
        try:
            data = json.loads(body)
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError):
            return None

    def beat(self, now: datetime) -> Holder:
        return replace(self, heartbeat_at=now.isoformat())

    def describe(self) -> str:
        return (
            f"run {self.run_id} ({self.command}, pid {self.pid} on {self.host}, "
            f"started {self.started_at}, last heartbeat {self.heartbeat_at})"
        )


class LockStore(Protocol):
    where: str

    def create(self, body: bytes) -> bool:
        """Write ``body`` if no lock exists; False when one does."""

    def read(self) -> tuple[bytes, str] | None:
        """The lock's body and a token that names this version of it; None when absent."""

    def take_over(self, token: str, body: bytes) -> bool:
        """Replace the version ``token`` names with ``body``; False when it changed."""

    def refresh(self, body: bytes) -> None:
        """Overwrite the lock the caller holds."""

    def delete(self) -> None: ...


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self.where = str(self.path)

    def create(self, body: bytes) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        return True

    def read(self) -> tuple[bytes, str] | None:
        try:
            body = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return body, body.decode("utf-8", "replace")

    def take_over(self, token: str, body: bytes) -> bool:
        aside = self.path.with_name(f"{LOCK_NAME}.stale-{uuid.uuid4().hex}")
        try:
            self.path.rename(aside)  # atomic: one of two racing runs moves it
        except FileNotFoundError:
            return False
        stale = aside.read_text(encoding="utf-8", errors="replace")
        aside.unlink(missing_ok=True)
        return stale == token and self.create(body)

    def refresh(self, body: bytes) -> None:
        temporary = self.path.with_name(f".{LOCK_NAME}.{os.getpid()}")
        temporary.write_bytes(body)
        temporary.replace(self.path)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


class S3Store:
    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.s3, self.bucket, self.key = client, bucket, key
        self.where = f"s3://{bucket}/{key}"

    def _put(self, body: bytes, **condition: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body, **condition)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
                "412",
            ):
                return False
            raise
        return True

    def create(self, body: bytes) -> bool:
        return self._put(body, IfNoneMatch="*")

    def read(self) -> tuple[bytes, str] | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return answer["Body"].read(), str(answer["ETag"])

    def take_over(self, token: str, body: bytes) -> bool:
        return self._put(body, IfMatch=token)

    def refresh(self, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body)

    def delete(self) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.key)


def store_for(lake_root: str) -> LockStore:
    """Where the lock of the lake at ``lake_root`` (a folder or ``s3a://`` URI) lives."""
    if lake_root.startswith(("s3://", "s3a://", "s3n://")):
        from sales_lakehouse.aws import client

        bucket, _, prefix = lake_root.split("://", 1)[1].partition("/")
        key = f"{prefix.strip('/')}/{LOCK_NAME}" if prefix.strip("/") else LOCK_NAME
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        return S3Store(client("s3", endpoint), bucket, key)
    return LocalStore(Path(lake_root))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_reason(holder: Holder | None, now: datetime, host: str) -> str | None:
    """Why the lock of ``holder`` can be taken over, or None while its run may be alive."""
    if holder is None:
        return "its lock file is unreadable"
    if holder.host == host and not _alive(holder.pid):
        return f"its process {holder.pid} on {host} no longer exists"
    try:
        beat = datetime.fromisoformat(holder.heartbeat_at)
    except ValueError:
        return "its heartbeat is unreadable"
    if now - beat > STALE_AFTER:
        return f"its last heartbeat is older than {int(STALE_AFTER.total_seconds() // 60)} min"
    return None


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def lake_lock(
    lake_root: str,
    run_id: str,
    command: str,
    *,
    store: LockStore | None = None,
    progress: Callable[[str], None] | None = None,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> Iterator[Holder]:
    """Hold the lake's lock for the block; LakeLockedError at once when a live run holds it."""
    store = store or store_for(lake_root)
    now = _now().replace(microsecond=0)
    me = Holder(
        run_id, command, socket.gethostname(), os.getpid(), now.isoformat(), now.isoformat()
    )
    if not store.create(me.to_json()):
        found = store.read()
        if found is None:  # released between our two calls: try once more
            taken = store.create(me.to_json())
        else:
            body, token = found
            holder = Holder.from_json(body)
            reason = stale_reason(holder, _now(), me.host)
            if reason is None and holder is not None:
                minutes = int(STALE_AFTER.total_seconds() // 60)
                raise LakeLockedError(
                    f"lake {lake_root} is in use by {holder.describe()}: wait for it to "
                    f"finish; a killed run's lock ({store.where}) is taken over once its "
                    f"process is gone or its heartbeat is {minutes} min old"
                )
            taken = store.take_over(token, me.to_json())
            if taken and progress:
                what = holder.describe() if holder else "an unreadable lock"
                progress(f"lock: took over the lake from {what}: {reason}")
        if not taken:
            raise LakeLockedError(
                f"lake {lake_root}: another run took the lock ({store.where}) at the same moment"
            )
    beats = [me]

    def beat() -> bool:
        """Refresh the heartbeat; False (stop) once another run holds the lock."""
        holder = beats[0] = beats[0].beat(_now().replace(microsecond=0))
        try:
            current = store.read()
            # Never write over a lock another run took over meanwhile.
            if current is None or (Holder.from_json(current[0]) or me).run_id != run_id:
                return False
            store.refresh(holder.to_json())
        except Exception:  # a missed beat only ages the lock
            return True
        return True

    try:
        with repeating(heartbeat_seconds, beat, "lake-lock-heartbeat"):
            yield me
    finally:
        current = store.read()
        if current is not None and (Holder.from_json(current[0]) or me).run_id == run_id:
            store.delete()
