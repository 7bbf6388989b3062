"""The scheduled producer's cursor: one JSON object in S3, replaced compare-and-swap.

Why S3 and the conditional writes: see ``ingest/api_producer.py``. Reading gives the
cursor with the object's ETag; writing sends ``If-Match: <that ETag>`` (``If-None-Match:
*`` when there was no object), so a cursor changed meanwhile by another invocation is
never overwritten: S3 answers 412 (or 409 for a concurrent conditional write) and
:class:`CursorConflictError` is raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError


class CursorError(RuntimeError):
    """The stored cursor cannot be read as a cursor."""


class CursorConflictError(RuntimeError):
    """Another invocation moved the cursor since this one read it."""


@dataclass(frozen=True)
class CursorState:
    """The stored cursor (None: start from the API's first event) and the ETag it had."""

    cursor: str | None
    etag: str | None  # None: no cursor object yet


class S3CursorStore:
    """The cursor as one JSON object in S3, replaced only if nobody changed it meanwhile."""

    def __init__(self, s3: Any, bucket: str, key: str, source: str) -> None:
        self._s3, self._bucket, self._key, self._source = s3, bucket, key, source
        self.location = f"s3://{bucket}/{key}"

    def read(self) -> CursorState:
        """The stored cursor; a missing object is a first run, an unreadable one an error."""
        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=self._key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return CursorState(None, None)
            raise
        text = answer["Body"].read()
        try:
            stored = json.loads(text)
            cursor = stored["cursor"]
        except (ValueError, TypeError, KeyError):
            stored, cursor = None, None
        if not isinstance(stored, dict) or not (cursor is None or isinstance(cursor, str)):
            raise CursorError(
                f'{self.location} is not {{"cursor": "<text>" | null}}: {text[:200]!r}; '
                "fix it, or delete it to start again from the API's first event"
            )
        return CursorState(cursor, answer["ETag"])

    def write(self, cursor: str, previous: CursorState) -> CursorState:
        """Replace the cursor read as ``previous``; :class:`CursorConflictError` if it changed."""
        body = {
            "cursor": cursor,
            "updated_at": datetime.now(UTC).isoformat(),
            "source": self._source,
        }
        condition = {"IfMatch": previous.etag} if previous.etag else {"IfNoneMatch": "*"}
        try:
            answer = self._s3.put_object(
                Bucket=self._bucket,
                Key=self._key,
                Body=json.dumps(body).encode("utf-8"),
                ContentType="application/json",
                **condition,
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise CursorConflictError(
                    f"{self.location} was changed by another invocation since this one read "
                    f"it; this run's last page (up to {cursor!r}) is on the stream, the cursor "
                    "is left as the other invocation wrote it"
                ) from error
            raise
        return CursorState(cursor, answer["ETag"])
