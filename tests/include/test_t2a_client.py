"""T2AClient, parse_response and the period helpers, against the contract.

Parsing is tested on hand-written bodies; retries, errors and auth end to end through the
real HttpHook against the stand-in server over real sockets (faults switched at run time).
Expected values are written from the contract, never computed by the code under test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import logging
import re
import secrets
import socket
import threading
import time

import pytest
import requests

from include.t2a_client import (
    QUERIES,
    ReportingPeriod,
    SalesOrg,
    T2AClient,
    T2AError,
    T2AMalformedResponse,
    T2APermanentError,
    T2AResponseTooLarge,
    T2ARetriesExhausted,
    org_query_params,
    parse_response,
    parse_tz_offset,
    reporting_period,
    unsafe_code_problem,
)
from t2a_standin import DataConfig, serve_in_thread
from tests.support import ROOT

TOKEN = "tok-" + secrets.token_urlsafe(18)
CONTRACT = ROOT.parent / "shared" / "contracts" / "t2a-api.md"

# Header lists copied by hand from the contract page.
TOTAL_HEADERS = ["GSCM Account", "Target Plan", "Est. Sales", "Ach. vs Target Plan", "Billing", "Growth(%) Y-1"]
ORDER_HEADERS = [
    "GSCM Account",
    "Material",
    "Billed Order",
    "Open Order",
    "Blocked Order",
    "Upcoming Order",
    "Credit Block",
    "Delivery Block",
    "Unconfirmed Delay",
    "DO Delay",
    "Incomplete",
]
SALES_ORG_HEADERS = [
    "GSCM Account",
    "SoldTo",
    "GSCM P/Group",
    "GSCM Product",
    "Material",
    "Target Plan",
    "Est. Sales",
    "Ach. vs Target Plan",
]


def body(content: object, query: str = "SALES_TOTAL") -> str:
    return json.dumps({"meta": {"query": query, "generated_at": "2026-11-26T10:00:03Z", "content": content}})


def content(headers: list[str], rows: list[list], bom: bool = True) -> str:
    return ("\ufeff" if bom else "") + json.dumps({"headers": headers, "rows": rows}, ensure_ascii=False)


TOTAL_ROWS = [
    ["5009095", 1000, 1234.56, 123.5, None, -3.5],
    ["서울상사", 0.0, None, None, 10.25, None],
    ["5009096", 2000.1, 1.0, 0.1, 0, 12],
]


# ----- parse_response: the quirks ------------------------------------------------------------
def test_bom_and_no_break_spaces_are_normalised_and_cells_kept_as_sent():
    wire_headers = [
        "GSCM\u00a0Account",
        "Target Plan",
        "Est.\u00a0Sales",
        "Ach.\u00a0vs\u00a0Target Plan",
        "Billing",
        "Growth(%) Y-1",
    ]
    extract = parse_response(body(content(wire_headers, TOTAL_ROWS)), query="SALES_TOTAL", org="5503")
    assert extract.query == "SALES_TOTAL"
    assert extract.headers == TOTAL_HEADERS
    assert extract.rows == TOTAL_ROWS
    # never coerced: ints stay ints, nulls stay null
    assert type(extract.rows[0][1]) is int and extract.rows[1][2] is None and type(extract.rows[2][5]) is int


def test_body_as_utf8_bytes_with_korean_identifiers():
    rows = [["5503", "서울상사", "KRW", "+9"], ["5504", "Zürich AG", "CHF", "+1"]]
    raw = body(content(["SALES_ORG_CD", "SALES_ORG_NM", "CUR", "TZ_OFFSET"], rows, bom=False), "SALES_ORG_LIST").encode(
        "utf-8"
    )
    assert parse_response(raw, query="SALES_ORG_LIST", org=None).rows == rows


@pytest.mark.parametrize("empty", ["", "{}", "[]", "\ufeff", "\ufeff{}", "\ufeff[]"])
def test_empty_content_forms_are_zero_rows(empty):
    extract = parse_response(body(empty, "ORDER_STATUS"), query="ORDER_STATUS", org="5503")
    assert extract.rows == []
    assert extract.headers == ORDER_HEADERS


# ----- parse_response: every malformed kind -----------------------------------------------------
def _swap(headers: list[str], i: int, j: int) -> list[str]:
    out = list(headers)
    out[i], out[j] = out[j], out[i]
    return out


MALFORMED_TOTAL = [
    ("body not JSON", "<html>502 Bad Gateway</html>", "response body is not JSON"),
    ("body a list", "[]", "no meta.content"),
    ("no meta", json.dumps({"data": {}}), "no meta.content"),
    ("no content", json.dumps({"meta": {"query": "SALES_TOTAL"}}), "no meta.content"),
    ("content not a string", body({"headers": TOTAL_HEADERS, "rows": []}), "meta.content is a JSON dict, not a string"),
    ("content not JSON", body('\ufeff{"headers": ["GSCM Account", '), "meta.content is not JSON"),
    ("content NaN", body(content(TOTAL_HEADERS, [["1", float("nan"), 1, 1, 1, 1]])), "meta.content is not JSON"),
    ("content without rows", body('{"headers": []}'), "an object with a 'headers' list and a 'rows' list"),
    ("header missing", body(content(TOTAL_HEADERS[:4] + TOTAL_HEADERS[5:], [])), "headers missing ['Billing']"),
    ("header extra", body(content([*TOTAL_HEADERS, "Region"], [])), "headers unexpected ['Region']"),
    ("header repeated", body(content([*TOTAL_HEADERS, "Billing"], [])), "headers repeated ['Billing']"),
    ("headers out of order", body(content(_swap(TOTAL_HEADERS, 1, 2), [])), "headers out of order"),
    (
        "row too short",
        body(content(TOTAL_HEADERS, [TOTAL_ROWS[0], TOTAL_ROWS[1][:5]])),
        "row 2 has 5 cells, expected 6",
    ),
    ("row not a list", body(content(TOTAL_HEADERS, [{"GSCM Account": "1"}])), "row 1 has a JSON dict, expected 6"),
    (
        "string amount",
        body(content(TOTAL_HEADERS, [["5009095", "1,234.50", 1, 1, 1, 1]])),
        "row 1, column 'Target Plan': \"1,234.50\" is not a finite number or null",
    ),
    (
        "bool percent",
        body(content(TOTAL_HEADERS, [TOTAL_ROWS[0], ["5009096", 1, 1, True, 1, 1]])),
        "row 2, column 'Ach. vs Target Plan': true is not a finite number or null",
    ),
    (
        "numeric identifier",
        body(content(TOTAL_HEADERS, [[5009095, 1, 1, 1, 1, 1]])),
        "row 1, column 'GSCM Account': 5009095 is not a valid Unicode string",
    ),
    (
        "null identifier",
        body(content(TOTAL_HEADERS, [[None, 1, 1, 1, 1, 1]])),
        "row 1, column 'GSCM Account': null is not a valid Unicode string",
    ),
    (
        "duplicate key",
        body(content(TOTAL_HEADERS, [TOTAL_ROWS[0], TOTAL_ROWS[2], TOTAL_ROWS[0]])),
        "duplicate key (GSCM Account='5009095') in rows 1 and 3",
    ),
    ("other query's answer", body(content(TOTAL_HEADERS, []), "SALES_ORG"), "meta.query is 'SALES_ORG'"),
]


@pytest.mark.parametrize(
    "raw, expected", [(raw, exp) for _, raw, exp in MALFORMED_TOTAL], ids=[name for name, _, _ in MALFORMED_TOTAL]
)
def test_malformed_sales_total_names_org_query_and_problem(raw, expected):
    with pytest.raises(T2AMalformedResponse) as info:
        parse_response(raw, query="SALES_TOTAL", org="5503")
    message = str(info.value)
    assert message.startswith("sales org 5503, query SALES_TOTAL: ")
    assert expected in message
    assert (info.value.org, info.value.query) == ("5503", "SALES_TOTAL")


ORDER_ROW = ["5009095", "M-1", 1.5, None, 0, 2, 0, 1, 0, 0, 3]


@pytest.mark.parametrize(
    "column, cell, shown",
    [
        ("Credit Block", -1, "-1"),
        ("Delivery Block", 1.0, "1.0"),
        ("Incomplete", None, "null"),
        ("DO Delay", "2", '"2"'),
        ("Unconfirmed Delay", False, "false"),
        ("Incomplete", 2**63, "9223372036854775808"),
    ],
)
def test_issue_counts_must_be_integers_within_64_bits(column, cell, shown):
    row = list(ORDER_ROW)
    row[ORDER_HEADERS.index(column)] = cell
    raw = body(content(ORDER_HEADERS, [[*ORDER_ROW[:1], "M-0", *ORDER_ROW[2:]], row]), "ORDER_STATUS")
    with pytest.raises(
        T2AMalformedResponse,
        match=re.escape(
            f"sales org 7001, query ORDER_STATUS: row 2, column '{column}': {shown} is not an integer from 0 to 9223372036854775807"
        ),
    ):
        parse_response(raw, query="ORDER_STATUS", org="7001")


def test_duplicate_two_column_key_names_both_values_and_rows():
    row = ["5009095", "서울상사", "TV", "TV Pro", "TV-10001", 1.0, 2.0, 200.0]
    other = ["5009095", "서울상사", "TV", "TV Pro", "TV-10002", 1.0, 2.0, 200.0]
    raw = body(content(SALES_ORG_HEADERS, [row, other, list(row)]), "SALES_ORG")
    with pytest.raises(
        T2AMalformedResponse,
        match=re.escape("duplicate key (GSCM Account='5009095', Material='TV-10001') in rows 1 and 3"),
    ):
        parse_response(raw, query="SALES_ORG", org="5503")


def test_error_without_org_names_only_the_query():
    with pytest.raises(T2AMalformedResponse, match=r"^query SALES_ORG_LIST: response body is not JSON"):
        parse_response(b"\xff\xfe", query="SALES_ORG_LIST", org=None)


def test_query_specs_follow_the_contract_page():
    if not CONTRACT.exists():
        pytest.skip(f"contract page not found at {CONTRACT}")
    table = {}
    for line in CONTRACT.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and cells[0].strip("`") in QUERIES:
            table[cells[0].strip("`")] = re.findall(r"`([^`]+)`", cells[3])
    assert table == {name: list(spec.headers) for name, spec in QUERIES.items()}
    assert QUERIES["SALES_TOTAL"].keys == ("GSCM Account",)
    assert QUERIES["SALES_ORG"].keys == QUERIES["ORDER_STATUS"].keys == ("GSCM Account", "Material")
    assert QUERIES["SALES_ORG_LIST"].keys == ("SALES_ORG_CD",)
    kinds = QUERIES["ORDER_STATUS"].kinds
    assert [kinds[h] for h in ORDER_HEADERS] == ["identifier"] * 2 + ["amount"] * 4 + ["count"] * 5
    assert [QUERIES["SALES_TOTAL"].kinds[h] for h in TOTAL_HEADERS] == [
        "identifier",
        "amount",
        "amount",
        "percent",
        "amount",
        "percent",
    ]


# ----- periods --------------------------------------------------------------------------------
UTC = dt.UTC


@pytest.mark.parametrize(
    "interval_end, tz_offset, expected",
    [
        (dt.datetime(2026, 11, 30, 20, 0, tzinfo=UTC), "+9", ("2026.12", "202612", "2026-12-01")),
        (dt.datetime(2026, 11, 30, 20, 0, tzinfo=UTC), "-5", ("2026.11", "202611", "2026-11-30")),
        (dt.datetime(2026, 12, 1, 3, 0, tzinfo=UTC), "-5", ("2026.11", "202611", "2026-11-30")),
        (dt.datetime(2026, 11, 30, 18, 29, tzinfo=UTC), "+5.5", ("2026.11", "202611", "2026-11-30")),
        (dt.datetime(2026, 11, 30, 18, 30, tzinfo=UTC), "+5.5", ("2026.12", "202612", "2026-12-01")),
        (dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "0", ("2026.12", "202612", "2026-12-31")),
        (
            dt.datetime(2027, 1, 1, 7, 59, tzinfo=dt.timezone(dt.timedelta(hours=9))),
            "+1",
            ("2026.12", "202612", "2026-12-31"),
        ),
        (
            dt.datetime(2027, 1, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))),
            "+1",
            ("2027.01", "202701", "2027-01-01"),
        ),
    ],
)
def test_reporting_period_is_org_local_at_interval_end(interval_end, tz_offset, expected):
    assert reporting_period(interval_end, tz_offset) == ReportingPeriod(*expected)


@pytest.mark.parametrize("bad", ["+9h", "9:30", "+15", "-13", "+5.3", "", "UTC", "+5.", None])
def test_bad_tz_offsets_are_rejected(bad):
    with pytest.raises(ValueError, match="TZ_OFFSET"):
        parse_tz_offset(bad)


def test_naive_interval_end_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        reporting_period(dt.datetime(2026, 11, 26, 10), "+9")


def test_org_query_params_follow_the_contract():
    org = SalesOrg("5503", "서울상사", "USD", "-5")
    period = ReportingPeriod("2026.11", "202611", "2026-11-26")
    assert org_query_params(org, period) == {
        "SALES_ORG": {"sales_org_cd": "5503", "month": "2026.11", "currency": "USD"},
        "SALES_TOTAL": {"sales_org_cd": "5503", "month": "202611", "currency": "USD"},
        "ORDER_STATUS": {"sales_org_cd": "5503", "date": "2026-11-26"},
    }


# ----- end to end against the stand-in ---------------------------------------------------------
@pytest.fixture(scope="module")
def standin():
    with serve_in_thread(DataConfig(), TOKEN) as running:
        yield running


class Admin:
    """The stand-in's fault switch and request counters."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.auth = {"Authorization": f"Bearer {TOKEN}"}

    def faults(self, *rules: dict) -> None:
        requests.post(
            f"{self.base_url}/_admin/faults", json=list(rules), headers=self.auth, timeout=5
        ).raise_for_status()

    def reset(self) -> None:
        requests.delete(f"{self.base_url}/_admin/faults", headers=self.auth, timeout=5).raise_for_status()
        requests.delete(f"{self.base_url}/_admin/stats", headers=self.auth, timeout=5).raise_for_status()

    def requests_by_status(self) -> dict:
        stats = requests.get(f"{self.base_url}/_admin/stats", headers=self.auth, timeout=5).json()
        return {(r["org"], r["query"], r["status"]): r["count"] for r in stats["requests"]}


@pytest.fixture
def admin(standin):
    admin = Admin(standin.base_url)
    admin.reset()
    yield admin
    admin.reset()


def set_connection(monkeypatch, standin, **overrides) -> None:
    conn = {"conn_type": "http", "host": standin.host, "port": standin.port, "schema": "http", "password": TOKEN}
    conn.update(overrides)
    monkeypatch.setenv("AIRFLOW_CONN_T2A_API", json.dumps({k: v for k, v in conn.items() if v is not None}))


@pytest.fixture
def client(monkeypatch, standin):
    set_connection(monkeypatch, standin)
    return T2AClient(max_attempts=4, backoff_base=0.01, backoff_max=0.05, timeout=5)


INTERVAL_END = dt.datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def ordinary_org(standin) -> SalesOrg:
    return SalesOrg(**standin.dataset.orgs()[0])


def period_keys(period: ReportingPeriod) -> dict[str, int]:
    return {
        "SALES_ORG": int(period.month_compact),
        "SALES_TOTAL": int(period.month_compact),
        "ORDER_STATUS": int(period.date.replace("-", "")),
    }


def test_list_sales_orgs_returns_the_served_orgs(client, standin):
    assert client.list_sales_orgs() == [SalesOrg(**org) for org in standin.dataset.orgs()]


def test_org_queries_return_exactly_the_served_rows(client, standin, admin):
    org = ordinary_org(standin)
    period = reporting_period(INTERVAL_END, org.tz_offset)
    for name, params in org_query_params(org, period).items():
        extract = client.query(name, params)
        served = standin.dataset.table(name, org.code, period_keys(period)[name])
        assert extract.headers == list(served.headers)
        assert extract.rows == served.rows and len(extract.rows) > 0
    assert sum(admin.requests_by_status().values()) == 3


def test_orgs_without_rows_answer_zero_rows(client, standin):
    orgs = [SalesOrg(**o) for o in standin.dataset.orgs()]
    idle = [o for o in orgs if not standin.dataset.accounts(o.code)]
    assert idle, "the stand-in should have an org without data"
    for org in idle:
        for name, params in org_query_params(org, reporting_period(INTERVAL_END, org.tz_offset)).items():
            assert client.query(name, params).rows == []


@pytest.mark.parametrize(
    "variant, expected",
    [
        ("not_json", "response body is not JSON"),
        ("content_not_json", "meta.content is not JSON"),
        ("missing_header", "headers missing ['Growth(%) Y-1']"),
        ("row_length", "row 1 has 5 cells, expected 6"),
        ("non_number", "row 1, column 'Target Plan': \"1,234.50\" is not a finite number or null"),
        ("duplicate_key", "duplicate key (GSCM Account="),
        ("infinite_number", "row 1, column 'Target Plan': Infinity is not a finite number or null"),
        ("lone_surrogate", "row 1, column 'GSCM Account': \"\\ud800\" is not a valid Unicode string"),
    ],
)
def test_malformed_responses_fail_at_once_naming_org_and_query(client, standin, admin, variant, expected):
    org = ordinary_org(standin)
    admin.faults({"org": org.code, "query": "SALES_TOTAL", "kind": "malformed", "variant": variant})
    params = org_query_params(org, reporting_period(INTERVAL_END, org.tz_offset))["SALES_TOTAL"]
    with pytest.raises(T2AMalformedResponse) as info:
        client.query("SALES_TOTAL", params)
    assert str(info.value).startswith(f"sales org {org.code}, query SALES_TOTAL: ")
    assert expected in str(info.value)
    assert admin.requests_by_status() == {(org.code, "SALES_TOTAL", 200): 1}


def test_number_in_org_list_is_malformed(client, admin):
    admin.faults({"query": "SALES_ORG_LIST", "kind": "malformed", "variant": "non_number"})
    # non_number on an all-identifier table puts a number where a code belongs
    with pytest.raises(T2AMalformedResponse, match="row 1, column 'SALES_ORG_CD': 12345 is not a valid Unicode string"):
        client.list_sales_orgs()


@contextlib.contextmanager
def fixed_answer_server(answer: bytes):
    """Another server that follows the page's shape, answering every POST with `answer`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "row, expected",
    [
        (["5503", "서울상사", "KRW", "+9h"], "sales org 5503, query SALES_ORG_LIST: row 2: TZ_OFFSET '+9h' is not"),
        (["5503", "서울상사", "KRW", "+5.3"], "sales org 5503, query SALES_ORG_LIST: row 2: TZ_OFFSET '+5.3' is not"),
        (["5503", "서울상사", "won", "+9"], "sales org 5503, query SALES_ORG_LIST: row 2: CUR 'won' is not"),
    ],
)
def test_bad_org_attributes_are_malformed_naming_the_org(monkeypatch, row, expected):
    rows = [["4001", "미국 판매법인", "USD", "-5"], row]
    answer = body(content(["SALES_ORG_CD", "SALES_ORG_NM", "CUR", "TZ_OFFSET"], rows), "SALES_ORG_LIST")
    with fixed_answer_server(answer.encode()) as port:
        monkeypatch.setenv(
            "AIRFLOW_CONN_T2A_API",
            json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port, "password": TOKEN}),
        )
        with pytest.raises(T2AMalformedResponse, match=re.escape(expected)) as info:
            T2AClient().list_sales_orgs()
    assert info.value.org == "5503"


def test_429_waits_at_least_retry_after(client, standin, admin):
    admin.faults({"query": "SALES_ORG_LIST", "kind": "status", "status": 429, "retry_after": 1, "times": 1})
    started = time.monotonic()
    orgs = client.list_sales_orgs()
    assert time.monotonic() - started >= 1.0
    assert len(orgs) == len(standin.dataset.orgs())
    assert admin.requests_by_status() == {(None, "SALES_ORG_LIST", 429): 1, (None, "SALES_ORG_LIST", 200): 1}


def test_503_burst_is_retried_until_it_passes(client, standin, admin):
    admin.faults({"kind": "status", "status": 503, "times": 2})
    client.list_sales_orgs()
    assert admin.requests_by_status() == {(None, "SALES_ORG_LIST", 503): 2, (None, "SALES_ORG_LIST", 200): 1}


def test_retries_exhausted_after_exactly_max_attempts(monkeypatch, standin, admin):
    set_connection(monkeypatch, standin)
    client = T2AClient(max_attempts=3, backoff_base=0.01, backoff_max=0.02, timeout=5)
    org = ordinary_org(standin)
    admin.faults({"org": org.code, "kind": "status", "status": 502})
    params = org_query_params(org, reporting_period(INTERVAL_END, org.tz_offset))["SALES_ORG"]
    with pytest.raises(T2ARetriesExhausted) as info:
        client.query("SALES_ORG", params)
    assert str(info.value).startswith(f"sales org {org.code}, query SALES_ORG: gave up after 3 attempts")
    assert "HTTP 502" in str(info.value) and info.value.attempts == 3
    assert admin.requests_by_status() == {(org.code, "SALES_ORG", 502): 3}


def test_permanent_error_after_a_transient_one_counts_both_attempts(client, admin):
    admin.faults({"kind": "status", "status": 503, "times": 1}, {"kind": "status", "status": 400})
    with pytest.raises(T2APermanentError) as info:
        client.list_sales_orgs()
    assert info.value.attempts == 2
    assert admin.requests_by_status() == {(None, "SALES_ORG_LIST", 503): 1, (None, "SALES_ORG_LIST", 400): 1}


def test_dropped_connection_is_retried(client, admin):
    admin.faults({"kind": "drop", "times": 1})
    client.list_sales_orgs()
    assert admin.requests_by_status() == {(None, "SALES_ORG_LIST", "dropped"): 1, (None, "SALES_ORG_LIST", 200): 1}


@contextlib.contextmanager
def first_answer_held_server(answer: bytes, hold_at_most: float = 300):
    """Another server that follows the page's shape: it holds its first answer back until the
    block ends (or ``hold_at_most`` seconds, so a client that waits for it still gets it) and
    answers every later POST with `answer` at once. Yields the requests in arrival order:
    "held" for the first, "answered" for the others."""
    release, lock, requests_seen = threading.Event(), threading.Lock(), []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                first = not requests_seen
                requests_seen.append("held" if first else "answered")
            if first:
                release.wait(hold_at_most)
            with contextlib.suppress(OSError):  # the client may have left
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], requests_seen
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_timeout_is_retried_without_waiting_for_the_slow_answer(monkeypatch, caplog):
    rows = [["4001", "미국 판매법인", "USD", "-5"], ["5503", "서울상사", "KRW", "+9"]]
    answer = body(content(["SALES_ORG_CD", "SALES_ORG_NM", "CUR", "TZ_OFFSET"], rows), "SALES_ORG_LIST").encode()
    caplog.set_level(logging.INFO, logger="include.t2a_client")
    with first_answer_held_server(answer) as (port, requests_seen):
        monkeypatch.setenv(
            "AIRFLOW_CONN_T2A_API",
            json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port, "password": TOKEN}),
        )
        client = T2AClient(max_attempts=2, backoff_base=0.01, backoff_max=0.02, timeout=0.3)
        orgs = client.list_sales_orgs()
        # The first answer is still held back: the call returned on the retry's answer alone.
        assert requests_seen == ["held", "answered"]
    assert [org.code for org in orgs] == ["4001", "5503"]
    assert "attempt=1/2 status=ReadTimeout" in caplog.text


def _permanent(client, standin, admin, case):
    org = ordinary_org(standin)
    params = org_query_params(org, reporting_period(INTERVAL_END, org.tz_offset))["SALES_ORG"]
    if case == "400":
        return client.query("SALES_ORG", {**params, "month": "202611"})
    if case == "404":
        return client.query("SALES_ORG", {**params, "sales_org_cd": "0000"})
    admin.faults({"kind": "status", "status": int(case)})
    return client.query("SALES_ORG", params)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("400", "HTTP 400 (bad request): SALES_ORG: month '202611' is not YYYY.MM"),
        ("404", "HTTP 404 (unknown sales org): unknown sales_org_cd '0000'"),
        ("403", "HTTP 403: T2A rejected the bearer token; check the password of Airflow connection 't2a_api'"),
        ("418", "HTTP 418 (unexpected status): injected fault: HTTP 418"),
    ],
)
def test_permanent_errors_are_not_retried(client, standin, admin, case, expected):
    with pytest.raises(T2APermanentError) as info:
        _permanent(client, standin, admin, case)
    assert expected in str(info.value)
    assert sum(admin.requests_by_status().values()) == 1


def test_wrong_token_names_the_connection_never_the_token(monkeypatch, standin, admin):
    wrong = "wrong-" + secrets.token_urlsafe(12)
    set_connection(monkeypatch, standin, password=wrong)
    with pytest.raises(T2APermanentError) as info:
        T2AClient(backoff_base=0.01).list_sales_orgs()
    assert str(info.value) == (
        "query SALES_ORG_LIST: HTTP 401: T2A rejected the bearer token; "
        "check the password of Airflow connection 't2a_api'"
    )
    assert wrong not in str(info.value)
    assert admin.requests_by_status() == {(None, "SALES_ORG_LIST", 401): 1}


def test_login_on_the_connection_does_not_turn_the_token_into_basic_auth(monkeypatch, standin, admin):
    set_connection(monkeypatch, standin, login="svc-pipeline")
    assert len(T2AClient().list_sales_orgs()) == len(standin.dataset.orgs())
    assert admin.requests_by_status() == {(None, "SALES_ORG_LIST", 200): 1}


@pytest.mark.parametrize(
    "password, conn_id, expected",
    [
        (None, "t2a_api", "Airflow connection 't2a_api' has no password (the bearer token)"),
        (TOKEN, "t2a_missing", "Airflow connection 't2a_missing' cannot be read"),
    ],
)
def test_connection_problems_are_permanent_and_send_nothing(monkeypatch, standin, admin, password, conn_id, expected):
    set_connection(monkeypatch, standin, password=password)
    with pytest.raises(T2APermanentError, match=re.escape(expected)):
        T2AClient(conn_id).list_sales_orgs()
    assert admin.requests_by_status() == {}


def test_token_never_appears_in_logs_or_errors(monkeypatch, standin, admin, caplog):
    caplog.set_level(logging.DEBUG)
    set_connection(monkeypatch, standin)
    client = T2AClient(max_attempts=2, backoff_base=0.01, backoff_max=0.02, timeout=5)
    org = ordinary_org(standin)
    params = org_query_params(org, reporting_period(INTERVAL_END, org.tz_offset))
    admin.faults(
        {"query": "SALES_TOTAL", "kind": "status", "status": 503, "times": 1},
        {"query": "ORDER_STATUS", "kind": "status", "status": 503},
    )
    errors: list[T2AError] = []
    client.query("SALES_TOTAL", params["SALES_TOTAL"])
    for name, bad in [
        ("ORDER_STATUS", params["ORDER_STATUS"]),
        ("SALES_ORG", {**params["SALES_ORG"], "currency": "XXX"}),
    ]:
        with pytest.raises(T2AError) as info:
            client.query(name, bad)
        errors.append(info.value)
    assert [type(e) for e in errors] == [T2ARetriesExhausted, T2APermanentError]
    lines = [r.getMessage() for r in caplog.records if r.name == "include.t2a_client"]
    assert f"T2A query=SALES_TOTAL org={org.code} attempt=1/2 status=503" in lines[0]
    assert re.search(r"attempt=2/2 status=200 duration_ms=\d+ rows=\d+$", lines[1])
    assert TOKEN not in caplog.text
    assert all(TOKEN not in str(e) for e in errors)


@pytest.mark.parametrize("variant, shown", [("huge_count", "9223372036854775808"), ("negative_count", "-1")])
def test_issue_counts_outside_64_bits_are_malformed_over_http(client, standin, admin, variant, shown):
    org = ordinary_org(standin)
    admin.faults({"org": org.code, "query": "ORDER_STATUS", "kind": "malformed", "variant": variant})
    params = org_query_params(org, reporting_period(INTERVAL_END, org.tz_offset))["ORDER_STATUS"]
    with pytest.raises(T2AMalformedResponse, match=re.escape(f"column 'Incomplete': {shown} is not an integer")):
        client.query("ORDER_STATUS", params)


def test_an_unsafe_org_code_is_skipped_and_reported_not_used(client, standin, admin):
    admin.faults({"query": "SALES_ORG_LIST", "kind": "malformed", "variant": "unsafe_org"})
    reported = []
    orgs = client.list_sales_orgs(reported.append)
    assert [o.code for o in orgs] == [o["code"] for o in standin.dataset.orgs()[1:]]
    assert [str(e) for e in reported] == ["query SALES_ORG_LIST: row 1: SALES_ORG_CD '../etc' holds a path separator"]


@pytest.mark.parametrize(
    "code, problem",
    [
        ("", "is not a usable code"),
        ("..", "is not a usable code"),
        ("a\\b", "holds a path separator"),
        ("55\x0003", "holds a control character"),
        ("55\n03", "holds a control character"),
    ],
)
def test_unsafe_code_problems(code, problem):
    assert problem in unsafe_code_problem(code)
    assert unsafe_code_problem("5503") is None and unsafe_code_problem("ÄÖ-1") is None


def test_a_response_over_the_cap_is_refused_once_and_never_retried(monkeypatch, standin, admin):
    set_connection(monkeypatch, standin)
    org = ordinary_org(standin)
    params = org_query_params(org, reporting_period(INTERVAL_END, org.tz_offset))["SALES_ORG"]
    capped = T2AClient(max_attempts=4, backoff_base=0.01, timeout=5, max_response_bytes=2_000)
    with pytest.raises(T2AResponseTooLarge) as info:
        capped.query("SALES_ORG", params)
    assert str(info.value).startswith(f"sales org {org.code}, query SALES_ORG: response of ")
    assert "over the 2,000-byte cap (T2A_MAX_RESPONSE_BYTES)" in str(info.value)
    assert admin.requests_by_status() == {(org.code, "SALES_ORG", 200): 1}
    # the same answer fits under the default cap
    assert T2AClient(max_attempts=1, timeout=5).query("SALES_ORG", params).rows


def test_a_body_without_content_length_is_cut_off_at_the_cap(monkeypatch):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 4096
    answer = head + b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10)) + b"0\r\n\r\n"
    with raw_answer_server(answer) as (host, port):
        monkeypatch.setenv(
            "AIRFLOW_CONN_CAPPED_T2A",
            json.dumps({"conn_type": "http", "host": host, "port": port, "schema": "http", "password": TOKEN}),
        )
        capped = T2AClient("capped_t2a", max_attempts=3, timeout=5, max_response_bytes=10_000)
        with pytest.raises(T2AResponseTooLarge, match="passed the 10,000-byte cap"):
            capped.query("SALES_ORG_LIST", {})


@contextlib.contextmanager
def raw_answer_server(answer: bytes):
    """A TCP server answering every connection with exactly these bytes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()
    finally:
        stop.set()
        thread.join(5)
        server.close()
