"""Property-based test of the scenario engine on generated data that went through the real
staging and merge code (the types a batch really reads): for any rows T2A may send and any
subscribers, run_batch serves every subscriber of the scenario with the base pages, and
nothing but the engine's documented ValueError (missing data/context) can escape — which
well-formed inputs never trigger."""

from __future__ import annotations

import tempfile

from airflow.sdk import ObjectStoragePath
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include import merge, staging
from include.scenarios import load_scenario, run_batch
from include.t2a_client import MAX_COUNT, ORG_QUERIES, QUERIES

ORGS = ["5503", "0042"]
CODES = st.sampled_from(["A1", "A2", "0050091", "WF45B6300AP/US", "서울상사", "a,b", 'q"t', " sp ", "Z" * 40])
AMOUNTS = st.none() | st.floats(min_value=-1e12, max_value=1e12, allow_nan=False) | st.integers(-(10**9), 10**9)
COUNTS = st.integers(min_value=0, max_value=MAX_COUNT // 1000)
BASE_PAGES = ["overview", "accounts", "product_groups", "operations"]


def _row(query: str):
    spec = QUERIES[query]
    cells = [
        CODES if spec.kinds[h] == "identifier" else COUNTS if spec.kinds[h] == "count" else AMOUNTS
        for h in spec.headers
    ]
    return st.tuples(*cells).map(list)


@st.composite
def org_rows(draw):
    rows = {}
    for query in ORG_QUERIES:
        key = [QUERIES[query].headers.index(k) for k in QUERIES[query].keys]
        rows[query] = draw(st.lists(_row(query), max_size=6, unique_by=lambda r, key=key: tuple(r[i] for i in key)))
    return rows


@st.composite
def subscribers(draw):
    subs = []
    for n in range(draw(st.integers(min_value=1, max_value=5))):
        groups = draw(st.none() | st.lists(CODES, min_size=1, max_size=3))
        subs.append(
            {
                "user_id": f"u{n}",
                "display_name": f"User {n}",
                "locale": "en-US",
                "sales_org_cd": draw(st.sampled_from(ORGS)),
                "accounts": draw(st.lists(CODES, min_size=1, max_size=4)),
                "product_groups": groups,
                "scenarios": None,
            }
        )
    return subs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.fixed_dictionaries({org: org_rows() for org in ORGS}), subs=subscribers())
def test_any_rows_and_subscribers_give_pages_for_everyone(data, subs):
    with tempfile.TemporaryDirectory() as tmp:
        area = ObjectStoragePath(f"file://{tmp}") / "runs" / "r" / "p"
        for org, rows in data.items():
            for query in ORG_QUERIES:
                staging.write_org_extract(area, org, query, rows[query])
        index = merge.write_merged(area, ORGS)
        frames = {query: merge.read_merged(area, index, query, ORGS) for query in ORG_QUERIES}
    context = {org: {"currency": "USD", "period": "2026.11", "as_of": "2026-11-26T10:00:00+00:00"} for org in ORGS}
    results = run_batch(load_scenario("daily_brief"), subs, frames, context)
    served = sorted(u for r in results for u in r.user_ids)
    assert served == sorted(s["user_id"] for s in subs)
    for result in results:
        for user in result.user_ids:
            assert list(result.pages_for(user))[:4] == BASE_PAGES
