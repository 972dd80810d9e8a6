"""The only code that talks to T2A (docs/contracts/t2a-api.md).

It owns the contract's shapes (`QUERIES`), turns a raw response into checked rows
(`parse_response`) without ever coercing or dropping a cell, and is the single retry layer
for HTTP failures (`T2AClient`): HttpHook's own response check and tenacity retries are not
used, so a transient failure is retried exactly `max_attempts` times and everything else
fails at once with an error naming the org, the query and the problem.

HttpHook (apache-airflow-providers-http 6.3) was read for secret handling: it only sends
basic auth when the connection has a login (we pass a no-op auth type so it never does),
it logs the URL at debug level and, with `check_response` off, never the response body,
and it does not log request headers.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

import requests
from airflow.providers.http.hooks.http import HttpHook
from requests.auth import AuthBase

from include.config import settings

log = logging.getLogger(__name__)

ENDPOINT = "api/v1/query"
Kind = Literal["identifier", "amount", "percent", "count"]


@dataclass(frozen=True)
class QuerySpec:
    """A query's headers in contract order, the kind of each column, and its key columns."""

    name: str
    headers: tuple[str, ...]
    kinds: Mapping[str, Kind]
    keys: tuple[str, ...]


def _spec(name: str, columns: list[tuple[str, Kind]], keys: tuple[str, ...]) -> QuerySpec:
    return QuerySpec(name, tuple(h for h, _ in columns), MappingProxyType(dict(columns)), keys)


_ACCOUNT: tuple[str, Kind] = ("GSCM Account", "identifier")
_MATERIAL: tuple[str, Kind] = ("Material", "identifier")
_TARGET: tuple[str, Kind] = ("Target Plan", "amount")
_EST: tuple[str, Kind] = ("Est. Sales", "amount")
_ACH: tuple[str, Kind] = ("Ach. vs Target Plan", "percent")

QUERIES: Mapping[str, QuerySpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            _spec(
                "SALES_ORG_LIST",
                [
                    ("SALES_ORG_CD", "identifier"),
                    ("SALES_ORG_NM", "identifier"),
                    ("CUR", "identifier"),
                    ("TZ_OFFSET", "identifier"),
                ],
                ("SALES_ORG_CD",),
            ),
            _spec(
                "SALES_ORG",
                [
                    _ACCOUNT,
                    ("SoldTo", "identifier"),
                    ("GSCM P/Group", "identifier"),
                    ("GSCM Product", "identifier"),
                    _MATERIAL,
                    _TARGET,
                    _EST,
                    _ACH,
                ],
                ("GSCM Account", "Material"),
            ),
            _spec(
                "SALES_TOTAL",
                [_ACCOUNT, _TARGET, _EST, _ACH, ("Billing", "amount"), ("Growth(%) Y-1", "percent")],
                ("GSCM Account",),
            ),
            _spec(
                "ORDER_STATUS",
                [
                    _ACCOUNT,
                    _MATERIAL,
                    ("Billed Order", "amount"),
                    ("Open Order", "amount"),
                    ("Blocked Order", "amount"),
                    ("Upcoming Order", "amount"),
                    ("Credit Block", "count"),
                    ("Delivery Block", "count"),
                    ("Unconfirmed Delay", "count"),
                    ("DO Delay", "count"),
                    ("Incomplete", "count"),
                ],
                ("GSCM Account", "Material"),
            ),
        )
    }
)
# The queries asked once per sales organization (SALES_ORG_LIST is asked once per run).
ORG_QUERIES = ("SALES_ORG", "SALES_TOTAL", "ORDER_STATUS")


# ----- errors -------------------------------------------------------------------------------
def _where(org: str | None, query: str) -> str:
    return f"query {query}" if org is None else f"sales org {org}, query {query}"


class T2AError(Exception):
    """Base of every T2A failure; the message starts with the org and the query.
    `attempts` is how many requests were made before giving up (for dead-letter records)."""

    def __init__(self, problem: str, *, org: str | None, query: str, attempts: int = 1) -> None:
        super().__init__(f"{_where(org, query)}: {problem}")
        self.org = org
        self.query = query
        self.attempts = attempts


class T2APermanentError(T2AError):
    """A failure retrying cannot fix: 400, 401/403, 404, an unexpected status, bad config."""


class T2AMalformedResponse(T2AError):
    """A response that breaks the contract's shape; never retried, never repaired."""


class T2AResponseTooLarge(T2AError):
    """A body over the client's cap (T2A_MAX_RESPONSE_BYTES): not read further, not retried."""


class T2ARetriesExhausted(T2AError):
    """Transient failures (429, 5xx, timeouts, dropped connections) outlived every attempt."""


# ----- parsing ------------------------------------------------------------------------------
@dataclass
class Extract:
    """One query's checked answer: contract headers (plain spaces) and rows as sent."""

    query: str
    headers: list[str]
    rows: list[list]


_EMPTY_CONTENTS: tuple[Any, ...] = ({}, [])
_Malformed = Callable[[str], T2AMalformedResponse]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str | bytes) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def parse_response(body: bytes | str, *, query: str, org: str | None) -> Extract:
    """Check a 200 body against the contract and return its rows; raise T2AMalformedResponse
    naming the exact problem (row numbers are 1-based) otherwise."""
    spec = QUERIES[query]

    def malformed(problem: str) -> T2AMalformedResponse:
        return T2AMalformedResponse(problem, org=org, query=query)

    try:
        document = _loads(body)
    except ValueError as exc:
        raise malformed(f"response body is not JSON ({exc})") from None
    meta = document.get("meta") if isinstance(document, dict) else None
    if not isinstance(meta, dict) or "content" not in meta:
        raise malformed("response body has no meta.content")
    if "query" in meta and meta["query"] != query:
        raise malformed(f"meta.query is {meta['query']!r}, not {query!r}")
    content = meta["content"]
    if not isinstance(content, str):
        raise malformed(f"meta.content is a JSON {type(content).__name__}, not a string")
    content = content.removeprefix("\ufeff")
    if not content.strip():
        return Extract(query, list(spec.headers), [])
    try:
        table = _loads(content)
    except ValueError as exc:
        raise malformed(f"meta.content is not JSON ({exc})") from None
    if table in _EMPTY_CONTENTS:
        return Extract(query, list(spec.headers), [])
    if (
        not isinstance(table, dict)
        or not isinstance(table.get("headers"), list)
        or not isinstance(table.get("rows"), list)
    ):
        raise malformed("meta.content is not an object with a 'headers' list and a 'rows' list")
    _check_headers(spec, table["headers"], malformed)
    rows = table["rows"]
    _check_rows(spec, rows, malformed)
    return Extract(query, list(spec.headers), rows)


def _check_headers(spec: QuerySpec, raw: list, malformed: _Malformed) -> None:
    if not all(isinstance(h, str) for h in raw):
        raise malformed(f"headers must all be strings, got {raw!r}")
    got = [h.replace("\u00a0", " ") for h in raw]
    if got == list(spec.headers):
        return
    missing = [h for h in spec.headers if h not in got]
    extra = [h for h in got if h not in spec.headers]
    repeated = sorted({h for h in got if got.count(h) > 1})
    problems = (
        ([f"missing {missing}"] if missing else [])
        + ([f"unexpected {extra}"] if extra else [])
        + ([f"repeated {repeated}"] if repeated else [])
    )
    if not problems:
        problems = [f"out of order: got {got}, expected {list(spec.headers)}"]
    raise malformed("headers " + "; ".join(problems))


MAX_COUNT = 2**63 - 1  # counts are stored as 64-bit integers downstream


def _is_text(value: Any) -> bool:
    """A string that is valid Unicode (JSON can carry lone surrogates such as "\\ud800")."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_number_or_null(value: Any) -> bool:
    """null, an int, or a float that stayed finite when decoded (1e400 decodes to infinity)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return True
    return isinstance(value, float) and math.isfinite(value)


_CELL_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "identifier": (_is_text, "a valid Unicode string"),
    "amount": (_is_number_or_null, "a finite number or null"),
    "percent": (_is_number_or_null, "a finite number or null"),
    "count": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_COUNT,
        f"an integer from 0 to {MAX_COUNT}",
    ),
}


def _check_rows(spec: QuerySpec, rows: list, malformed: _Malformed) -> None:
    width = len(spec.headers)
    checks = [_CELL_CHECKS[spec.kinds[h]] for h in spec.headers]
    key_positions = [spec.headers.index(k) for k in spec.keys]
    seen: dict[tuple, int] = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, list) or len(row) != width:
            size = f"{len(row)} cells" if isinstance(row, list) else f"a JSON {type(row).__name__}"
            raise malformed(f"row {number} has {size}, expected {width}")
        for header, (ok, expected), cell in zip(spec.headers, checks, row):
            if not ok(cell):
                raise malformed(f"row {number}, column {header!r}: {json.dumps(cell)} is not {expected}")
        key = tuple(row[i] for i in key_positions)
        if key in seen:
            named = ", ".join(f"{k}={v!r}" for k, v in zip(spec.keys, key))
            raise malformed(f"duplicate key ({named}) in rows {seen[key]} and {number}")
        seen[key] = number


# ----- sales orgs and periods ----------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def unsafe_code_problem(code: str) -> str | None:
    """Why an organization code cannot be used in a path or a query, or None if it can."""
    if code in ("", ".", ".."):
        return f"{code!r} is not a usable code"
    if "/" in code or "\\" in code:
        return f"{code!r} holds a path separator"
    if _CONTROL.search(code):
        return f"{code!r} holds a control character"
    return None


@dataclass(frozen=True)
class SalesOrg:
    code: str
    name: str
    currency: str
    tz_offset: str


@dataclass(frozen=True)
class ReportingPeriod:
    month: str  # "YYYY.MM"  (SALES_ORG)
    month_compact: str  # "YYYYMM"   (SALES_TOTAL)
    date: str  # "YYYY-MM-DD" (ORDER_STATUS)


_TZ_OFFSET = re.compile(r"[+-]?\d{1,2}(\.\d{1,2})?")


def parse_tz_offset(text: str) -> dt.timedelta:
    """A TZ_OFFSET string ("+9", "-5", "+5.5", "0") as a timedelta; ValueError if it is not
    hours from UTC in quarter hours between -12 and +14."""
    if not isinstance(text, str) or not _TZ_OFFSET.fullmatch(text):
        raise ValueError(f"TZ_OFFSET {text!r} is not hours from UTC like '+9', '-5', '+5.5'")
    minutes = Decimal(text) * 60
    if not -12 * 60 <= minutes <= 14 * 60 or minutes % 15:
        raise ValueError(f"TZ_OFFSET {text!r} is not a real UTC offset (quarter hours, -12 to +14)")
    return dt.timedelta(minutes=int(minutes))


def reporting_period(interval_end: dt.datetime, tz_offset: str) -> ReportingPeriod:
    """The org-local reporting period at the run's data interval end (never the wall clock)."""
    if interval_end.tzinfo is None or interval_end.utcoffset() is None:
        raise ValueError(f"data interval end {interval_end.isoformat()} must be timezone-aware")
    local = interval_end.astimezone(dt.timezone(parse_tz_offset(tz_offset)))
    return ReportingPeriod(local.strftime("%Y.%m"), local.strftime("%Y%m"), local.strftime("%Y-%m-%d"))


def org_query_params(org: SalesOrg, period: ReportingPeriod) -> dict[str, dict[str, str]]:
    """The exact params of the three per-org queries for one reporting period."""
    return {
        "SALES_ORG": {"sales_org_cd": org.code, "month": period.month, "currency": org.currency},
        "SALES_TOTAL": {"sales_org_cd": org.code, "month": period.month_compact, "currency": org.currency},
        "ORDER_STATUS": {"sales_org_cd": org.code, "date": period.date},
    }


# ----- the client ---------------------------------------------------------------------------
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT_EXCEPTIONS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class _NoBasicAuth(AuthBase):
    """Stops HttpHook from sending the connection's password as basic auth: the token
    travels only as the bearer header."""

    def __init__(self, *_credentials: Any) -> None:
        pass

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


@dataclass(frozen=True)
class _Transient:
    description: str
    retry_after: float | None


class T2AClient:
    """Queries T2A through the Airflow HTTP connection `conn_id`, retrying transient failures
    with capped exponential backoff and full jitter (and honouring Retry-After on 429)."""

    def __init__(
        self,
        conn_id: str = "t2a_api",
        *,
        max_attempts: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        timeout: float = 120.0,
        retry_after_max: float = 300.0,
        max_response_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.conn_id = conn_id
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.retry_after_max = retry_after_max
        self.max_response_bytes = max_response_bytes
        self._hook = HttpHook(method="POST", http_conn_id=conn_id, auth_type=_NoBasicAuth)
        self._token: str | None = None
        self._random = random.Random()

    @classmethod
    def from_settings(cls) -> T2AClient:
        """The client as the deployment configures it (T2A_CONN_ID, T2A_MAX_ATTEMPTS, T2A_BACKOFF_*,
        T2A_TIMEOUT)."""
        cfg = settings()
        return cls(
            cfg.t2a_conn_id,
            max_attempts=cfg.t2a_max_attempts,
            backoff_base=cfg.t2a_backoff_base,
            backoff_max=cfg.t2a_backoff_max,
            timeout=cfg.t2a_timeout,
            max_response_bytes=cfg.t2a_max_response_bytes,
        )

    def list_sales_orgs(self, on_unsafe: Callable[[T2AMalformedResponse], None] | None = None) -> list[SalesOrg]:
        """Every sales org with a checked currency code and TZ_OFFSET.

        A row whose SALES_ORG_CD is not a safe identifier is skipped (it would end up in a
        path or a query): ``on_unsafe`` gets its error (the pipeline dead-letters it);
        without one it is logged.
        """
        orgs = []
        for number, row in enumerate(self.query("SALES_ORG_LIST", {}).rows, start=1):
            problem = unsafe_code_problem(row[0])
            if problem is None:
                orgs.append(SalesOrg(*row))
                continue
            error = T2AMalformedResponse(f"row {number}: SALES_ORG_CD {problem}", org=None, query="SALES_ORG_LIST")
            if on_unsafe is None:
                log.warning("skipping a sales org: %s", error)
            else:
                on_unsafe(error)
        for number, org in enumerate(orgs, start=1):
            try:
                parse_tz_offset(org.tz_offset)
            except ValueError as exc:
                raise T2AMalformedResponse(f"row {number}: {exc}", org=org.code, query="SALES_ORG_LIST") from None
            if not re.fullmatch(r"[A-Z]{3}", org.currency):
                raise T2AMalformedResponse(
                    f"row {number}: CUR {org.currency!r} is not a 3-letter currency code",
                    org=org.code,
                    query="SALES_ORG_LIST",
                )
        return orgs

    def query(self, name: str, params: Mapping[str, str], *, org: str | None = None) -> Extract:
        """Run one query; org defaults to params['sales_org_cd'] and only labels logs and errors."""
        if name not in QUERIES:
            raise ValueError(f"unknown T2A query {name!r}; known: {', '.join(QUERIES)}")
        org = org if org is not None else params.get("sales_org_cd")
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                outcome = self._attempt(name, dict(params), org, attempt)
            except T2AError as exc:
                exc.attempts = attempt
                raise
            if isinstance(outcome, Extract):
                return outcome
            last = outcome.description
            if attempt < self.max_attempts:
                time.sleep(self._delay(attempt, outcome.retry_after, name, org))
        raise T2ARetriesExhausted(
            f"gave up after {self.max_attempts} attempts; last: {last}", org=org, query=name, attempts=self.max_attempts
        )

    # ----- one attempt ------------------------------------------------------------------
    def _attempt(self, name: str, params: dict[str, str], org: str | None, attempt: int) -> Extract | _Transient:
        headers = {"Authorization": f"Bearer {self._bearer_token(name, org)}", "Content-Type": "application/json"}
        started = time.monotonic()
        try:
            response = self._hook.run(
                endpoint=ENDPOINT,
                json={"query": name, "params": params},
                headers=headers,
                extra_options={"check_response": False, "timeout": self.timeout, "stream": True},
            )
            body = self._read_capped(response, name, org)
        except TRANSIENT_EXCEPTIONS as exc:
            self._log(name, org, attempt, type(exc).__name__, started, None)
            return _Transient(f"{type(exc).__name__}: {exc}", None)
        except T2AResponseTooLarge:
            self._log(name, org, attempt, "body over the cap", started, None)
            raise
        status = response.status_code
        if status == 200:
            try:
                extract = parse_response(body, query=name, org=org)
            except T2AMalformedResponse:
                self._log(name, org, attempt, "200 malformed", started, None)
                raise
            self._log(name, org, attempt, status, started, len(extract.rows))
            return extract
        self._log(name, org, attempt, status, started, None)
        if status in TRANSIENT_STATUSES:
            return _Transient(f"HTTP {status}: {self._error_message(response)}", _retry_after(response))
        raise T2APermanentError(self._permanent_problem(response), org=org, query=name)

    def _read_capped(self, response: requests.Response, name: str, org: str | None) -> bytes:
        """The body, read in chunks and abandoned as soon as it passes max_response_bytes, so one
        huge answer costs at most the cap in memory (the decoded rows come on top of it)."""
        cap = self.max_response_bytes
        try:
            declared = int(response.headers.get("Content-Length", "0") or 0)
            if declared > cap:
                raise T2AResponseTooLarge(
                    f"response of {declared:,} bytes is over the {cap:,}-byte cap (T2A_MAX_RESPONSE_BYTES)",
                    org=org,
                    query=name,
                )
            chunks, size = [], 0
            for chunk in response.iter_content(chunk_size=1 << 20):
                size += len(chunk)
                if size > cap:
                    raise T2AResponseTooLarge(
                        f"response passed the {cap:,}-byte cap (T2A_MAX_RESPONSE_BYTES) while being read",
                        org=org,
                        query=name,
                    )
                chunks.append(chunk)
            body = b"".join(chunks)
            response._content = body  # the error paths read .json() / .text from it
            return body
        finally:
            response.close()

    def _permanent_problem(self, response: requests.Response) -> str:
        status = response.status_code
        if status in (401, 403):
            return (
                f"HTTP {status}: T2A rejected the bearer token; check the password of "
                f"Airflow connection {self.conn_id!r}"
            )
        meaning = {400: "bad request", 404: "unknown sales org"}.get(status, "unexpected status")
        return f"HTTP {status} ({meaning}): {self._error_message(response)}"

    def _error_message(self, response: requests.Response) -> str:
        """The server's own message from an error body, short, and never echoing the token."""
        try:
            body = response.json()
            error = body.get("error", body.get("message")) if isinstance(body, dict) else None
            message = error.get("message") if isinstance(error, dict) else error
        except ValueError:
            message = None
        text = str(message) if message else (response.text.strip() or response.reason or "")
        if self._token:
            text = text.replace(self._token, "***")
        return text[:300]

    def _bearer_token(self, name: str, org: str | None) -> str:
        if self._token is None:
            try:
                password = self._hook.get_connection(self.conn_id).password
            except Exception as exc:  # AirflowNotFoundException and secrets-backend failures
                raise T2APermanentError(
                    f"Airflow connection {self.conn_id!r} cannot be read: {type(exc).__name__}", org=org, query=name
                ) from None
            if not password:
                raise T2APermanentError(
                    f"Airflow connection {self.conn_id!r} has no password (the bearer token)", org=org, query=name
                )
            self._token = password
        return self._token

    def _delay(self, attempt: int, retry_after: float | None, name: str, org: str | None) -> float:
        """Full-jitter exponential backoff, but at least Retry-After (capped) when given."""
        delay = self._random.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))
        if retry_after is not None:
            if retry_after > self.retry_after_max:
                log.warning(
                    "T2A %s: Retry-After %.0fs exceeds the cap, waiting %.0fs",
                    _where(org, name),
                    retry_after,
                    self.retry_after_max,
                )
            delay = max(delay, min(retry_after, self.retry_after_max))
        return delay

    def _log(
        self, name: str, org: str | None, attempt: int, status: int | str, started: float, rows: int | None
    ) -> None:
        log.info(
            "T2A query=%s org=%s attempt=%d/%d status=%s duration_ms=%.0f rows=%s",
            name,
            org or "-",
            attempt,
            self.max_attempts,
            status,
            (time.monotonic() - started) * 1000,
            "-" if rows is None else rows,
        )


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), None if absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None
