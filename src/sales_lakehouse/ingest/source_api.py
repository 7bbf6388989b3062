"""Client of the external sales API the scheduled producer pulls from (the contract is in
``ingest/api_producer.py`` and docs/streaming.md, "Pulling from a sales API").

A page is checked whole before any of it is used: a bad status, a body that is not
JSON, a missing ``events`` list, an event that is not an object or a ``next_cursor``
that cannot advance raise :class:`SourceApiError` naming the URL, the status and what
was wrong. Standard library only (``urllib``), so it runs in Lambda as is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from http.client import HTTPException
from typing import Any, NoReturn
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from urllib.request import HTTPRedirectHandler, OpenerDirector, Request, build_opener

USER_AGENT = "sales-lakehouse-api-producer/1"
_EXCERPT = 200  # characters of a bad body quoted in an error


class SourceApiError(RuntimeError):
    """The sales API answered something the producer cannot use; nothing of it was put."""


@dataclass(frozen=True)
class Page:
    """One answer of the API: its events (parsed JSON objects) and where to continue."""

    events: list[dict[str, Any]]
    next_cursor: str | None


class _NoRedirect(HTTPRedirectHandler):
    """Refuse redirects: urllib would resend the Authorization header to any new host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class SourceApi:
    """``GET <url>?after=<cursor>&limit=<n>`` with an optional bearer token."""

    def __init__(self, url: str, timeout: float, token: str | None = None) -> None:
        self.url = url
        self._timeout = timeout
        self._token = token
        self._opener: OpenerDirector = build_opener(_NoRedirect)

    def fetch(self, after: str | None, limit: int) -> Page:
        """The page of events after ``after`` (from the start when None), checked whole."""
        url = page_url(self.url, after, limit)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            with self._opener.open(Request(url, headers=headers), timeout=self._timeout) as answer:
                status, body = answer.status, answer.read()
        except HTTPError as error:
            status, body = error.code, error.read()
        except (URLError, HTTPException, OSError) as error:
            reason = getattr(error, "reason", error)
            raise SourceApiError(f"GET {url}: no answer: {reason}") from error
        page = parse_page(url, status, body)
        if page.events and page.next_cursor in (None, after):
            _fail(
                url,
                status,
                f"{len(page.events)} events but next_cursor {page.next_cursor!r} does not move "
                "past them, so they would be fetched again forever",
            )
        return page


def page_url(url: str, after: str | None, limit: int) -> str:
    """``url`` with ``after`` (left out on the first call) and ``limit`` in its query."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("after", "limit")]
    if after is not None:
        query.append(("after", after))
    query.append(("limit", str(limit)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def parse_page(url: str, status: int, body: bytes) -> Page:
    """The page in an answer, or :class:`SourceApiError` saying what is wrong with it.

    Numbers are read as exact decimals (``event_json`` writes them back as sent), and
    NaN or Infinity, which are not JSON, are refused.
    """
    if not 200 <= status < 300:
        _fail(url, status, f"expected a 2xx status; body: {_excerpt(body)}")
    try:
        payload = json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        _fail(url, status, f"body is not JSON ({error}): {_excerpt(body)}")
    if not isinstance(payload, dict):
        _fail(url, status, f"expected a JSON object, got {type(payload).__name__}")
    events = payload.get("events")
    if not isinstance(events, list):
        _fail(url, status, f'"events" is {_kind(events)}, expected a list of event objects')
    not_objects = [index for index, event in enumerate(events) if not isinstance(event, dict)]
    if not_objects:
        _fail(url, status, f"events at positions {not_objects[:10]} are not JSON objects")
    if "next_cursor" not in payload:
        _fail(url, status, '"next_cursor" is missing (a string, or null when there is no event)')
    cursor = payload["next_cursor"]
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        _fail(url, status, f'"next_cursor" is {_kind(cursor)}, expected a non-empty string')
    return Page(events, cursor)


def event_json(value: Any) -> str:
    """Compact JSON of a parsed event; decimals are written as the API sent them.

    The consumer reads numbers as exact decimals too, so money that arrives as a JSON
    number (``19.90``) reaches it unchanged, never through a float.
    """
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(str(key))}:{event_json(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(event_json(item) for item in value) + "]"
    return json.dumps(value)


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


def _kind(value: Any) -> str:
    return "null or missing" if value is None else f"a {type(value).__name__}"


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    return repr(text[:_EXCERPT] + ("…" if len(text) > _EXCERPT else ""))


def _fail(url: str, status: int, what: str) -> NoReturn:
    raise SourceApiError(f"GET {url}: HTTP {status}: {what}")
