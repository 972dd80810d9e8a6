"""Property-based tests of the T2A response parser (include/t2a_client.parse_response): on any
body at all, it returns an Extract or raises T2AMalformedResponse naming org and query —
nothing else ever escapes — and a valid table comes back exactly as sent."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include.t2a_client import MAX_COUNT, QUERIES, Extract, T2AMalformedResponse, parse_response

ORG_QUERIES = ["SALES_ORG", "SALES_TOTAL", "ORDER_STATUS"]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _body(content) -> str:
    return json.dumps({"meta": {"content": content}})


def _only_documented(body, query: str) -> Extract | None:
    try:
        return parse_response(body, query=query, org="5503")
    except T2AMalformedResponse as exc:
        assert str(exc).startswith(f"sales org 5503, query {query}: "), str(exc)
        return None


@SETTINGS
@given(query=st.sampled_from(ORG_QUERIES), body=st.binary(max_size=200) | st.text(max_size=200))
def test_any_bytes_at_all(query, body):
    _only_documented(body, query)


@SETTINGS
@given(query=st.sampled_from(ORG_QUERIES), document=json_values)
def test_any_json_document(query, document):
    _only_documented(json.dumps(document), query)
    _only_documented(_body(json.dumps(document)), query)


def _cell(kind: str):
    if kind == "identifier":
        return st.text(max_size=12)
    if kind == "count":
        return st.integers(min_value=0, max_value=MAX_COUNT)
    return (
        st.none()
        | st.integers(min_value=-(10**15), max_value=10**15)
        | st.floats(allow_nan=False, allow_infinity=False)
    )


def _valid_rows(query: str):
    spec = QUERIES[query]
    row = st.tuples(*[_cell(spec.kinds[h]) for h in spec.headers]).map(list)
    key = [spec.headers.index(k) for k in spec.keys]
    return st.lists(row, max_size=8, unique_by=lambda r: tuple(r[i] for i in key))


@st.composite
def valid_tables(draw):
    query = draw(st.sampled_from(ORG_QUERIES))
    return query, draw(_valid_rows(query))


@SETTINGS
@given(valid_tables())
def test_a_valid_table_comes_back_exactly(table):
    query, rows = table
    content = json.dumps({"headers": list(QUERIES[query].headers), "rows": rows})
    extract = parse_response(_body(content), query=query, org="5503")
    assert extract.rows == rows and extract.headers == list(QUERIES[query].headers)


BAD_CELLS = {
    "identifier": st.sampled_from(["\ud800", "a\udfffb"]) | st.integers() | st.none(),
    "count": st.integers(max_value=-1)
    | st.integers(min_value=MAX_COUNT + 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3),
    "amount": st.sampled_from([math.inf, -math.inf]) | st.text(max_size=3) | st.booleans(),
    "percent": st.sampled_from([math.inf, -math.inf]) | st.text(max_size=3) | st.booleans(),
}


@st.composite
def tables_with_one_bad_cell(draw):
    query, rows = draw(valid_tables())
    spec = QUERIES[query]
    rows = rows or [draw(_valid_rows(query).filter(bool))[0]]
    row_number = draw(st.integers(min_value=1, max_value=len(rows)))
    header = draw(st.sampled_from(spec.headers))
    bad = draw(BAD_CELLS[spec.kinds[header]])
    rows[row_number - 1][spec.headers.index(header)] = bad
    return query, rows, row_number, header


@SETTINGS
@given(tables_with_one_bad_cell())
def test_one_bad_cell_is_named_by_row_and_column_never_passed_on(case):
    query, rows, row_number, header = case
    # T2A writes a too-large number as digits (1e400), which decodes to infinity
    content = json.dumps({"headers": list(QUERIES[query].headers), "rows": rows}).replace("Infinity", "1e400")
    try:
        parse_response(_body(content), query=query, org="5503")
    except T2AMalformedResponse as exc:
        message = str(exc)
        assert message.startswith(f"sales org 5503, query {query}: ")
        # the bad cell is named, unless an earlier row's key now repeats (also malformed)
        assert f"row {row_number}, column {header!r}" in message or "duplicate key" in message, message
        message.encode("utf-8")  # the message itself can always be stored and logged
    else:
        raise AssertionError(f"row {row_number} column {header!r} = {rows[row_number - 1]} was accepted")
