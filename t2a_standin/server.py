"""A faithful stand-in for the ERP's T2A query API, over real HTTP.

The pipeline must work against any server that follows docs/contracts/t2a-api.md, so this
one speaks exactly that page, quirks included (content JSON inside a string, a leading BOM,
no-break spaces in header names, three spellings of "no rows"), validates requests as
strictly as the contract allows, and can be told at run time to misbehave (error statuses,
malformed bodies, valid but extreme data, delays, dropped connections) so retries and error
handling are tested end to end rather than against mocks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from t2a_standin.data import DataConfig, Dataset, Table, date_key, month_key

log = logging.getLogger("t2a_standin")

QUERY_PATH = "/api/v1/query"
FAULTS_PATH = "/_admin/faults"
STATS_PATH = "/_admin/stats"

# Required params per query; SALES_ORG_LIST takes none.
QUERY_PARAMS: dict[str, tuple[str, ...]] = {
    "SALES_ORG_LIST": (),
    "SALES_ORG": ("sales_org_cd", "month", "currency"),
    "SALES_TOTAL": ("sales_org_cd", "month", "currency"),
    "ORDER_STATUS": ("sales_org_cd", "date"),
}
# Wire spellings: some header names use a no-break space where a plain one is meant.
WIRE_HEADERS: dict[str, dict[str, str]] = {
    "SALES_ORG": {
        "GSCM Account": "GSCM\u00a0Account",
        "Est. Sales": "Est.\u00a0Sales",
        "Ach. vs Target Plan": "Ach.\u00a0vs Target Plan",
    },
    "SALES_TOTAL": {"Est. Sales": "Est.\u00a0Sales"},
    "ORDER_STATUS": {"GSCM Account": "GSCM\u00a0Account", "Open Order": "Open\u00a0Order"},
}
EMPTY_FORMS = ("", "{}", "[]")
BOM = "\ufeff"

FAULT_KINDS = ("status", "malformed", "extreme", "delay", "drop")
MALFORMED_VARIANTS = (
    "not_json",
    "content_not_json",
    "missing_header",
    "row_length",
    "non_number",
    "duplicate_key",
    "infinite_number",  # a number cell written as 1e400 (decodes to infinity)
    "huge_count",  # an issue count of 2^63
    "negative_count",  # an issue count of -1
    "lone_surrogate",  # a code written as "\ud800" (not valid Unicode)
    "unsafe_org",  # SALES_ORG_LIST: an org code "../etc" that must never reach a path
)
# Kind "extreme": answers that still follow the contract to the letter, with data at an
# extreme the pipeline must handle downstream (not as a fetch failure).
EXTREME_VARIANTS = (
    "huge_codes",  # every Material code of the answer padded to HUGE_CODE_CHARS characters
)
HUGE_CODE_CHARS = 6000
# Only Material: account codes and product groups are what card_subscriber rows refer to, so
# padding them would merely put the org's subscribers out of scope (empty cards, no error).
# Material appears in SALES_ORG and ORDER_STATUS alike, so their join still matches.
HUGE_CODE_COLUMNS = ("Material",)
# Placeholders that break_table puts in cells and _raw_json_tokens turns into JSON text that
# json.dumps cannot write itself.
_RAW_TOKENS = {'"@@1e400@@"': "1e400", '"@@lone-surrogate@@"': '"\\ud800"'}


class RequestError(Exception):
    """A request the contract rejects; carries the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class FaultRule:
    """One injected misbehaviour; `times` None means forever."""

    kind: str
    org: str | None = None
    query: str | None = None
    status: int = 503
    retry_after: float | None = None
    variant: str | None = None
    seconds: float = 1.0
    times: int | None = None

    @classmethod
    def from_json(cls, raw: Any, position: int) -> FaultRule:
        where = f"fault rule {position}"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected an object, got {type(raw).__name__}")
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
        rule = cls(**raw)
        checks = [
            (rule.kind in FAULT_KINDS, f"kind must be one of {FAULT_KINDS}, got {rule.kind!r}"),
            (rule.org is None or isinstance(rule.org, str), "org must be a string or null"),
            (rule.query is None or rule.query in QUERY_PARAMS, f"query must be null or one of {tuple(QUERY_PARAMS)}"),
            (_is_int(rule.status) and 400 <= rule.status <= 599, "status must be an integer 400-599"),
            (
                rule.retry_after is None or (_is_number(rule.retry_after) and rule.retry_after >= 0),
                "retry_after must be a number >= 0 or null",
            ),
            (
                rule.kind != "malformed" or rule.variant in MALFORMED_VARIANTS,
                f"variant must be one of {MALFORMED_VARIANTS} for kind 'malformed'",
            ),
            (
                rule.kind != "extreme" or rule.variant in EXTREME_VARIANTS,
                f"variant must be one of {EXTREME_VARIANTS} for kind 'extreme'",
            ),
            (_is_number(rule.seconds) and rule.seconds >= 0, "seconds must be a number >= 0"),
            (rule.times is None or (_is_int(rule.times) and rule.times >= 1), "times must be an integer >= 1 or null"),
        ]
        for ok, problem in checks:
            if not ok:
                raise ValueError(f"{where}: {problem}")
        return rule

    def matches(self, org: str | None, query: str) -> bool:
        return (self.org is None or self.org == org) and (self.query is None or self.query == query)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class StandinState:
    """What the handlers share: the data, the token, the fault rules, the request counts and
    the query requests in flight (now, and the most at once since the stats were reset), all
    of them and those for one sales org."""

    dataset: Dataset
    token: str
    rules: list[FaultRule] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    max_in_flight: int = 0
    org_in_flight: int = 0
    max_org_in_flight: int = 0

    def set_rules(self, raw: Any) -> int:
        if not isinstance(raw, list):
            raise ValueError("faults must be a JSON list of rules")
        rules = [FaultRule.from_json(item, i) for i, item in enumerate(raw)]
        with self.lock:
            self.rules = rules
        return len(rules)

    def take_fault(self, org: str | None, query: str) -> FaultRule | None:
        """The first matching rule, using up one of its `times`."""
        with self.lock:
            for rule in self.rules:
                if rule.matches(org, query):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times == 0:
                            self.rules.remove(rule)
                    return rule
        return None

    def record(self, org: str | None, query: str | None, status: int | str) -> None:
        with self.lock:
            self.stats[(org, query, status)] += 1

    def enter(self, org: str | None) -> None:
        """A query request arrived: one more in flight (the high-water marks follow); `org` for
        one sales org's query (what a pipeline's org fetch sends), None for SALES_ORG_LIST."""
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if org is not None:
                self.org_in_flight += 1
                self.max_org_in_flight = max(self.max_org_in_flight, self.org_in_flight)

    def leave(self, org: str | None) -> None:
        with self.lock:
            self.in_flight -= 1
            if org is not None:
                self.org_in_flight -= 1

    def reset_stats(self) -> dict[str, Any]:
        """Counts cleared; the high-water mark starts again from the requests in flight now."""
        with self.lock:
            self.stats.clear()
            self.max_in_flight, self.max_org_in_flight = self.in_flight, self.org_in_flight
        return self.stats_json()

    def stats_json(self) -> dict[str, Any]:
        with self.lock:
            items = sorted(self.stats.items(), key=lambda kv: tuple(str(part) for part in kv[0]))
            flight = {
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "org_in_flight": self.org_in_flight,
                "max_org_in_flight": self.max_org_in_flight,
            }
        return {
            "total": sum(count for _, count in items),
            **flight,
            "requests": [
                {"org": org, "query": query, "status": status, "count": count} for (org, query, status), count in items
            ],
        }


def validate_request(request: Any, dataset: Dataset) -> tuple[str, dict[str, str], int]:
    """(query, params, period key) of a valid request, else RequestError 400/404."""
    if not isinstance(request, dict):
        raise RequestError(400, "body must be a JSON object with 'query' and 'params'")
    unknown = set(request) - {"query", "params"}
    if unknown:
        raise RequestError(400, f"unexpected body fields {sorted(unknown)}")
    query = request.get("query")
    if query not in QUERY_PARAMS:
        raise RequestError(400, f"unknown query {query!r}; known: {', '.join(QUERY_PARAMS)}")
    params = request.get("params", {}) if query == "SALES_ORG_LIST" else request.get("params")
    if not isinstance(params, dict):
        raise RequestError(400, f"{query}: params must be a JSON object")
    expected = set(QUERY_PARAMS[query])
    if set(params) != expected:
        raise RequestError(400, f"{query}: params must be exactly {sorted(expected)}, got {sorted(params)}")
    bad = [name for name, value in params.items() if not isinstance(value, str)]
    if bad:
        raise RequestError(400, f"{query}: params {bad} must be strings")
    if query == "SALES_ORG_LIST":
        return query, params, 0
    try:
        period = (
            date_key(params["date"])
            if query == "ORDER_STATUS"
            else month_key(params["month"], dotted=query == "SALES_ORG")
        )
    except ValueError as exc:
        raise RequestError(400, f"{query}: {exc}") from exc
    org = params["sales_org_cd"]
    if not dataset.has_org(org):
        raise RequestError(404, f"unknown sales_org_cd {org!r}")
    if "currency" in params:
        currency = next(o["currency"] for o in dataset.orgs() if o["code"] == org)
        if params["currency"] != currency:
            raise RequestError(
                400, f"{query}: currency {params['currency']!r} is not sales org {org}'s currency {currency!r}"
            )
    return query, params, period


def render_content(query: str, table: Table, org: str | None, period: int) -> str:
    """The contract's `meta.content` string for a table, with the wire quirks applied."""
    if not table.rows:
        # Rotate deterministically (by query, month and org) so that every spelling of
        # "no rows" shows up, and an org without any data shows all three in one run.
        month = period // 100 if query == "ORDER_STATUS" else period
        position = list(QUERY_PARAMS).index(query) + month + int(org or 0)
        return EMPTY_FORMS[position % len(EMPTY_FORMS)]
    spellings = WIRE_HEADERS.get(query, {})
    headers = [spellings.get(h, h) for h in table.headers]
    document = json.dumps({"headers": headers, "rows": table.rows}, ensure_ascii=False)
    return document if query == "SALES_ORG_LIST" else BOM + document


def break_table(variant: str, table: Table) -> Table:
    """The table damaged the way a malformed-response fault asks for."""
    headers, rows = list(table.headers), [list(row) for row in table.rows]
    if variant == "missing_header":
        return Table(tuple(headers[:-1]), [row[:-1] for row in rows])
    if not rows:
        raise RequestError(500, f"fault variant {variant!r} needs rows, and this answer has none")
    first = rows[0]
    if variant == "row_length":
        rows[0] = first[:-1]
    elif variant == "duplicate_key":
        rows.append(list(first))
    elif variant == "non_number":
        numeric = [i for i, cell in enumerate(first) if cell is None or _is_number(cell)]
        if numeric:
            first[numeric[0]] = "1,234.50"
        else:
            first[0] = 12345
    elif variant == "infinite_number":
        numeric = [i for i, cell in enumerate(first) if cell is None or _is_number(cell)]
        first[numeric[0] if numeric else 0] = "@@1e400@@"
    elif variant in ("huge_count", "negative_count"):
        counts = [i for i, cell in enumerate(first) if isinstance(cell, int) and not isinstance(cell, bool)]
        if not counts:
            raise RequestError(500, f"fault variant {variant!r} needs a count column, and this query has none")
        first[counts[-1]] = 2**63 if variant == "huge_count" else -1
    elif variant == "lone_surrogate":
        first[0] = "@@lone-surrogate@@"
    elif variant == "unsafe_org":
        first[0] = "../etc"
    return Table(tuple(headers), rows)


def stretch_table(variant: str, table: Table) -> Table:
    """The table with valid but extreme data, as an extreme-data fault asks for."""
    if variant != "huge_codes":
        raise RequestError(500, f"unknown extreme variant {variant!r}")
    columns = {i for i, header in enumerate(table.headers) if header in HUGE_CODE_COLUMNS}
    rows = [[huge_code(cell) if i in columns else cell for i, cell in enumerate(row)] for row in table.rows]
    return Table(table.headers, rows)


def huge_code(code: str) -> str:
    """``code`` padded to HUGE_CODE_CHARS characters; distinct codes stay distinct ('~' ends
    the original code and never occurs in one)."""
    return f"{code}~".ljust(HUGE_CODE_CHARS, "x")


def raw_json_tokens(content: str) -> str:
    """Put the JSON that break_table's placeholders stand for into a rendered content string."""
    for placeholder, token in _RAW_TOKENS.items():
        content = content.replace(placeholder, token)
    return content


class StandinHandler(BaseHTTPRequestHandler):
    """Routes the query endpoint and the admin endpoints; logs one line per query."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid the delayed-ACK stall
    server: StandinServer

    # ----- routing ----------------------------------------------------------------------
    def do_POST(self) -> None:
        if self.path == QUERY_PATH:
            self._handle_query()
        elif self.path == FAULTS_PATH:
            self._admin(lambda body: {"rules": self.server.state.set_rules(json.loads(body or b"null"))})
        else:
            self._send_error(404, f"no endpoint {self.path}")

    def do_DELETE(self) -> None:
        if self.path == FAULTS_PATH:
            self._admin(lambda body: {"rules": self.server.state.set_rules([])})
        elif self.path == STATS_PATH:
            self._admin(lambda body: self.server.state.reset_stats())
        else:
            self._send_error(404, f"no endpoint {self.path}")

    def do_GET(self) -> None:
        if self.path == STATS_PATH:
            self._admin(lambda body: self.server.state.stats_json())
        elif self.path == FAULTS_PATH:
            self._admin(lambda body: {"rules": [vars(r) for r in self.server.state.rules]})
        else:
            self._send_error(404 if self.path != QUERY_PATH else 405, f"no GET endpoint {self.path}")

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's own access log; _handle_query logs what an operator needs."""

    # ----- the query endpoint -----------------------------------------------------------
    def _handle_query(self) -> None:
        started = time.perf_counter()
        state = self.server.state
        body = self._read_body()
        request = _loads_or_none(body)
        query = request.get("query") if isinstance(request, dict) and isinstance(request.get("query"), str) else None
        params = request.get("params") if isinstance(request, dict) else None
        org = (
            params.get("sales_org_cd")
            if isinstance(params, dict) and isinstance(params.get("sales_org_cd"), str)
            else None
        )
        state.enter(org)
        try:
            self._query_in_flight(started, request, query, params, org)
        finally:
            state.leave(org)

    def _query_in_flight(self, started: float, request: Any, query: str | None, params: Any, org: str | None) -> None:
        state = self.server.state
        status: int | str
        rows: int | None = None
        try:
            self._check_auth()
            if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
                raise RequestError(400, "Content-Type must be application/json")
            if request is None:
                raise RequestError(400, "body is not JSON")
            query, params, period = validate_request(request, state.dataset)
            fault = state.take_fault(org, query)
            status, rows, reply = self._answer(query, params, period, org, fault)
        except RequestError as exc:
            status, reply = exc.status, partial(self._send_error, exc.status, str(exc))
        # Counted before the answer leaves: a client holding the answer may read the stats at once.
        state.record(org, query, status)
        reply()
        log.info(
            "query=%s org=%s status=%s rows=%s ms=%.0f",
            query,
            org or "-",
            status,
            "-" if rows is None else rows,
            (time.perf_counter() - started) * 1000,
        )

    def _answer(
        self, query: str, params: dict[str, str], period: int, org: str | None, fault: FaultRule | None
    ) -> tuple[int | str, int | None, Callable[[], None]]:
        """The answer (or the injected fault): (status for the log, row count, send it)."""
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            return "dropped", None, lambda: None
        if fault is not None and fault.kind == "status":
            extra = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            return (
                fault.status,
                None,
                partial(self._send_error, fault.status, f"injected fault: HTTP {fault.status}", extra),
            )
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        dataset = self.server.state.dataset
        table = dataset.sales_org_list() if query == "SALES_ORG_LIST" else dataset.table(query, org, period)
        if fault is not None and fault.kind == "extreme":
            table = stretch_table(fault.variant, table)
        variant = fault.variant if fault is not None and fault.kind == "malformed" else None
        if variant == "not_json":
            return 200, None, partial(self._send, 200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        if variant not in (None, "not_json", "content_not_json"):
            table = break_table(variant, table)
        content = (
            BOM + '{"headers": ["GSCM Account", '
            if variant == "content_not_json"
            else raw_json_tokens(render_content(query, table, org, period))
        )
        generated_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta = {"meta": {"query": query, "generated_at": generated_at, "content": content}}
        return 200, len(table.rows), partial(self._send, 200, json.dumps(meta, ensure_ascii=False).encode("utf-8"))

    def _check_auth(self) -> None:
        expected = f"Bearer {self.server.state.token}".encode()
        given = self.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            raise RequestError(401, "missing or invalid bearer token")

    # ----- admin ------------------------------------------------------------------------
    def _admin(self, action: Any) -> None:
        body = self._read_body()
        try:
            self._check_auth()
            payload = action(body)
        except RequestError as exc:
            self._send_error(exc.status, str(exc))
            return
        except ValueError as exc:  # includes json.JSONDecodeError
            self._send_error(400, str(exc))
            return
        self._send(200, json.dumps(payload).encode())

    # ----- plumbing ---------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        extra = dict(headers or {})
        if status == 401:
            extra["WWW-Authenticate"] = "Bearer"
        body = json.dumps({"error": {"status": status, "message": message}}, ensure_ascii=False)
        self._send(status, body.encode("utf-8"), headers=extra)

    def _send(
        self, status: int, body: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            log.warning("client went away before the %s answer was sent", status)
            self.close_connection = True


def _loads_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


class StandinServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the shared StandinState."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: StandinState) -> None:
        super().__init__(address, StandinHandler)
        self.state = state


@dataclass(frozen=True)
class RunningStandin:
    """Where a started stand-in listens, and the data it serves."""

    host: str
    port: int
    dataset: Dataset

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def make_server(
    config: DataConfig, token: str, host: str = "127.0.0.1", port: int = 0, faults: Any = None
) -> StandinServer:
    """A bound, not yet serving, stand-in server (port 0 = any free port)."""
    if not token:
        raise ValueError("the stand-in needs a non-empty bearer token")
    state = StandinState(Dataset(config), token)
    if faults is not None:
        state.set_rules(faults)
    return StandinServer((host, port), state)


@contextlib.contextmanager
def serve_in_thread(
    config: DataConfig, token: str, host: str = "127.0.0.1", port: int = 0, faults: Any = None
) -> Iterator[RunningStandin]:
    """Run a stand-in on a background thread for the duration of the block."""
    server = make_server(config, token, host, port, faults)
    thread = threading.Thread(target=server.serve_forever, name="t2a-standin", daemon=True)
    thread.start()
    try:
        bound_host, bound_port = server.server_address[:2]
        yield RunningStandin(str(bound_host), int(bound_port), server.state.dataset)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
