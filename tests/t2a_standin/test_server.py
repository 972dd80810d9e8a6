"""The stand-in T2A server and its synthetic data, over real HTTP.

Checks that the stand-in speaks the contract (quirks, validation, auth, errors), that its
fault switch does what tests rely on, and that its data exercises the daily_brief rules.
The oracles are the contract's rules, recomputed here independently (Decimal arithmetic).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal

import pytest
import requests

from t2a_standin import DataConfig, Dataset, preset, serve_in_thread
from t2a_standin.server import HUGE_CODE_CHARS, render_content
from tests.support import ROOT

TOKEN = "standin-" + secrets.token_urlsafe(18)
MONTH, MONTH_KEY, DATE, DATE_KEY = "2026.11", 202611, "2026-11-26", 20261126
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def standin():
    with serve_in_thread(DataConfig(), TOKEN) as running:
        yield running


@pytest.fixture
def api(standin):
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {TOKEN}"})
    base = standin.base_url
    session.delete(f"{base}/_admin/faults").raise_for_status()
    session.delete(f"{base}/_admin/stats").raise_for_status()

    def post(query: str, params: dict | None = None, **kwargs):
        payload = {"query": query} if params is None else {"query": query, "params": params}
        return session.post(f"{base}/api/v1/query", json=payload, timeout=10, **kwargs)

    post.session, post.base = session, base
    yield post
    session.delete(f"{base}/_admin/faults")
    session.close()


def org_of(dataset: Dataset, kind: str) -> dict:
    """An ordinary org, the one with accounts but no orders, or the one with no data."""
    for org in dataset.orgs():
        has_accounts = bool(dataset.accounts(org["code"]))
        has_orders = bool(dataset.table("ORDER_STATUS", org["code"], DATE_KEY).rows) if has_accounts else False
        if (kind, has_accounts, has_orders) in {
            ("ordinary", True, True),
            ("no_orders", True, False),
            ("idle", False, False),
        }:
            return org
    raise AssertionError(f"no {kind} org in the stand-in data")


def params_for(query: str, org: dict) -> dict:
    return {
        "SALES_ORG": {"sales_org_cd": org["code"], "month": MONTH, "currency": org["currency"]},
        "SALES_TOTAL": {"sales_org_cd": org["code"], "month": MONTH.replace(".", ""), "currency": org["currency"]},
        "ORDER_STATUS": {"sales_org_cd": org["code"], "date": DATE},
    }[query]


def content_of(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["meta"]["content"]


def table_of(response: requests.Response) -> dict:
    return json.loads(content_of(response).removeprefix("\ufeff"))


# ----- the wire format -------------------------------------------------------------------------
def test_response_envelope_bom_and_no_break_space_headers(api, standin):
    org = org_of(standin.dataset, "ordinary")
    response = api("SALES_ORG", params_for("SALES_ORG", org))
    meta = response.json()["meta"]
    assert meta["query"] == "SALES_ORG"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["generated_at"])
    assert meta["content"].startswith("\ufeff{")
    headers = table_of(response)["headers"]
    assert "GSCM\u00a0Account" in headers and "Est.\u00a0Sales" in headers
    assert [h.replace("\u00a0", " ") for h in headers] == [
        "GSCM Account",
        "SoldTo",
        "GSCM P/Group",
        "GSCM Product",
        "Material",
        "Target Plan",
        "Est. Sales",
        "Ach. vs Target Plan",
    ]
    assert len(table_of(response)["rows"]) == 25 * 40


def test_org_without_data_answers_all_three_empty_forms(api, standin):
    org = org_of(standin.dataset, "idle")
    forms = {content_of(api(q, params_for(q, org))) for q in ("SALES_ORG", "SALES_TOTAL", "ORDER_STATUS")}
    assert forms == {"", "{}", "[]"}


def test_org_with_accounts_but_no_orders(api, standin):
    org = org_of(standin.dataset, "no_orders")
    assert content_of(api("ORDER_STATUS", params_for("ORDER_STATUS", org))) in {"", "{}", "[]"}
    assert len(table_of(api("SALES_TOTAL", params_for("SALES_TOTAL", org)))["rows"]) == 40


def test_sales_org_list_has_korean_names_currencies_and_offsets(api, standin):
    table = table_of(api("SALES_ORG_LIST"))
    assert table["headers"] == ["SALES_ORG_CD", "SALES_ORG_NM", "CUR", "TZ_OFFSET"]
    assert [
        dict(zip(("code", "name", "currency", "tz_offset"), row)) for row in table["rows"]
    ] == standin.dataset.orgs()
    assert all(re.fullmatch(r"\d{4}", code) and HANGUL.search(name) for code, name, _, _ in table["rows"])
    assert {"USD", "KRW", "EUR", "JPY"} <= {row[2] for row in table["rows"]}
    assert {"+9", "-5", "+5.5", "+1", "0"} <= {row[3] for row in table["rows"]}


# ----- request validation, auth, errors -------------------------------------------------------
@pytest.mark.parametrize(
    "query, change, status, message",
    [
        ("NO_SUCH_QUERY", {}, 400, "unknown query 'NO_SUCH_QUERY'"),
        ("SALES_ORG", {"month": "202611"}, 400, "SALES_ORG: month '202611' is not YYYY.MM"),
        ("SALES_ORG", {"month": "2026.13"}, 400, "SALES_ORG: month '2026.13' is not YYYY.MM"),
        ("SALES_TOTAL", {"month": "2026.11"}, 400, "SALES_TOTAL: month '2026.11' is not YYYYMM"),
        ("ORDER_STATUS", {"date": "2026-02-30"}, 400, "date '2026-02-30' is not a calendar date"),
        ("ORDER_STATUS", {"date": "26.11.2026"}, 400, "date '26.11.2026' is not YYYY-MM-DD"),
        ("SALES_ORG", {"currency": None}, 400, "params must be exactly ['currency', 'month', 'sales_org_cd']"),
        ("SALES_ORG", {"extra": "1"}, 400, "params must be exactly"),
        ("SALES_ORG", {"currency": "XXX"}, 400, "currency 'XXX' is not sales org"),
        ("SALES_ORG", {"month": 202611}, 400, "params ['month'] must be strings"),
        ("SALES_ORG", {"sales_org_cd": "0000"}, 404, "unknown sales_org_cd '0000'"),
    ],
)
def test_bad_requests_are_rejected_with_a_message(api, standin, query, change, status, message):
    org = org_of(standin.dataset, "ordinary")
    params = {**params_for("SALES_ORG" if query == "NO_SUCH_QUERY" else query, org), **change}
    params = {k: v for k, v in params.items() if v is not None}
    response = api(query, params)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"Authorization": None}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": f"Basic {TOKEN}"}, 401),
        ({"Content-Type": "text/plain"}, 400),
    ],
)
def test_token_and_content_type_are_checked(api, headers, status):
    response = api("SALES_ORG_LIST", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/_admin/stats"), ("POST", "/_admin/faults"), ("DELETE", "/_admin/faults"), ("DELETE", "/_admin/stats")],
)
def test_admin_endpoints_need_the_token(standin, method, path):
    assert requests.request(method, standin.base_url + path, json=[], timeout=5).status_code == 401


def test_body_that_is_not_json_is_a_400(api):
    response = api.session.post(
        f"{api.base}/api/v1/query", data=b"{query", headers={"Content-Type": "application/json"}, timeout=5
    )
    assert (response.status_code, response.json()["error"]["message"]) == (400, "body is not JSON")


# ----- fault injection ----------------------------------------------------------------------------
def test_status_fault_with_retry_after_is_used_up_after_times(api, standin):
    org = org_of(standin.dataset, "ordinary")
    rule = {"org": org["code"], "query": "SALES_TOTAL", "kind": "status", "status": 429, "retry_after": 2, "times": 2}
    api.session.post(f"{api.base}/_admin/faults", json=[rule]).raise_for_status()
    params = params_for("SALES_TOTAL", org)
    other = org_of(standin.dataset, "no_orders")
    assert api("SALES_TOTAL", params_for("SALES_TOTAL", other)).status_code == 200  # other org unaffected
    assert api("SALES_ORG", params_for("SALES_ORG", org)).status_code == 200  # other query unaffected
    first, second, third = (api("SALES_TOTAL", params) for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert second.status_code == 429 and third.status_code == 200
    stats = api.session.get(f"{api.base}/_admin/stats").json()
    assert stats["total"] == 5
    assert {"org": org["code"], "query": "SALES_TOTAL", "status": 429, "count": 2} in stats["requests"]


def test_delete_clears_faults(api):
    api.session.post(f"{api.base}/_admin/faults", json=[{"kind": "status", "status": 500}]).raise_for_status()
    assert api("SALES_ORG_LIST").status_code == 500
    api.session.delete(f"{api.base}/_admin/faults").raise_for_status()
    assert api("SALES_ORG_LIST").status_code == 200


def test_drop_closes_the_connection_without_an_answer(api):
    api.session.post(f"{api.base}/_admin/faults", json=[{"kind": "drop", "times": 1}]).raise_for_status()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(
            f"{api.base}/api/v1/query",
            json={"query": "SALES_ORG_LIST"},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
    stats = api.session.get(f"{api.base}/_admin/stats").json()
    assert stats["requests"] == [{"org": None, "query": "SALES_ORG_LIST", "status": "dropped", "count": 1}]


def test_malformed_variants_break_the_answer_as_named(api, standin):
    org = org_of(standin.dataset, "ordinary")
    params = params_for("SALES_TOTAL", org)
    clean = table_of(api("SALES_TOTAL", params))

    def broken(variant: str) -> requests.Response:
        rule = {"kind": "malformed", "variant": variant, "times": 1}
        api.session.post(f"{api.base}/_admin/faults", json=[rule]).raise_for_status()
        return api("SALES_TOTAL", params)

    assert broken("not_json").text.startswith("<html>")
    with pytest.raises(ValueError):
        json.loads(content_of(broken("content_not_json")).removeprefix("\ufeff"))
    assert table_of(broken("missing_header"))["headers"] == clean["headers"][:-1]
    assert len(table_of(broken("row_length"))["rows"][0]) == len(clean["headers"]) - 1
    assert table_of(broken("non_number"))["rows"][0][1] == "1,234.50"
    duplicated = table_of(broken("duplicate_key"))["rows"]
    assert duplicated[-1] == duplicated[0] and len(duplicated) == len(clean["rows"]) + 1


def test_extreme_huge_codes_pads_one_orgs_materials_and_stays_valid(api, standin):
    """Valid per the contract (the client's own parser accepts it), unlike a malformed answer:
    the org's Material codes, and nothing else, are HUGE_CODE_CHARS long and still distinct,
    the same in SALES_ORG and ORDER_STATUS (their join still matches)."""
    from include.t2a_client import parse_response

    org, other = org_of(standin.dataset, "ordinary"), org_of(standin.dataset, "no_orders")
    clean = {q: table_of(api(q, params_for(q, org))) for q in ("SALES_ORG", "SALES_TOTAL", "ORDER_STATUS")}
    rule = {"org": org["code"], "kind": "extreme", "variant": "huge_codes"}
    api.session.post(f"{api.base}/_admin/faults", json=[rule]).raise_for_status()
    assert max(len(r[4]) for r in table_of(api("SALES_ORG", params_for("SALES_ORG", other)))["rows"]) < 100
    materials = {}
    for query in ("SALES_ORG", "SALES_TOTAL", "ORDER_STATUS"):
        response = api(query, params_for(query, org))
        extract = parse_response(response.content, query=query, org=org["code"])
        assert len(extract.rows) == len(clean[query]["rows"]) > 0, query
        headers = [h.replace("\u00a0", " ") for h in clean[query]["headers"]]
        if "Material" not in headers:
            assert table_of(response) == clean[query]
            continue
        m = headers.index("Material")
        for got, was in zip(table_of(response)["rows"], clean[query]["rows"]):
            assert len(got[m]) == HUGE_CODE_CHARS and got[m].startswith(was[m] + "~"), query
            assert got[:m] + got[m + 1 :] == was[:m] + was[m + 1 :], query
        materials[query] = {row[m] for row in table_of(response)["rows"]}
        assert len(materials[query]) == len({row[m] for row in clean[query]["rows"]}), f"{query}: codes collided"
    assert materials["ORDER_STATUS"] <= materials["SALES_ORG"]


@pytest.mark.parametrize(
    "rule, problem",
    [
        ({"kind": "explode"}, "kind must be one of"),
        ({"kind": "extreme", "variant": "not_json"}, "variant must be one of ('huge_codes',)"),
        ({"kind": "malformed", "variant": "garbled"}, "variant must be one of"),
        ({"kind": "status", "status": 200}, "status must be an integer 400-599"),
        ({"kind": "drop", "times": 0}, "times must be an integer >= 1 or null"),
        ({"kind": "drop", "when": "now"}, "unknown fields ['when']"),
    ],
)
def test_invalid_fault_rules_are_rejected_naming_the_field(api, rule, problem):
    response = api.session.post(f"{api.base}/_admin/faults", json=[{"kind": "drop"}, rule])
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"fault rule 1: {problem}")


# ----- the command line --------------------------------------------------------------------------
def test_command_line_server_with_faults_file_logs_one_line_per_request(tmp_path):
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps([{"query": "SALES_ORG_LIST", "kind": "status", "status": 503, "times": 1}]))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STANDIN_TOKEN": TOKEN}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "t2a_standin",
            "--port",
            "0",
            "--token-env",
            "STANDIN_TOKEN",
            "--preset",
            "small",
            "--seed",
            "7",
            "--faults",
            str(faults),
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stderr.readline()
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", banner)[1])
        url = f"http://127.0.0.1:{port}/api/v1/query"
        statuses = [
            requests.post(
                url, json={"query": "SALES_ORG_LIST"}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
            ).status_code
            for _ in range(2)
        ]
        assert statuses == [503, 200]
        lines = [process.stderr.readline() for _ in range(2)]
    finally:
        process.terminate()
        output = banner + "".join(lines) + process.communicate(timeout=10)[1]
    assert "seed 7" in banner and "1 fault rules" in banner
    assert re.search(r"query=SALES_ORG_LIST org=- status=503 rows=- ms=\d+", lines[0])
    assert re.search(r"query=SALES_ORG_LIST org=- status=200 rows=6 ms=\d+", lines[1])
    assert TOKEN not in output


def test_command_line_refuses_to_start_without_the_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_TOKEN_VAR"}
    result = subprocess.run(
        [sys.executable, "-m", "t2a_standin", "--port", "0", "--token-env", "NO_SUCH_TOKEN_VAR"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "environment variable NO_SUCH_TOKEN_VAR is not set" in result.stderr


# ----- the synthetic data --------------------------------------------------------------------------
def all_tables(dataset: Dataset, query: str, period: int) -> list[list]:
    return [
        row
        for org in dataset.orgs()
        if dataset.accounts(org["code"])
        for row in dataset.table(query, org["code"], period).rows
    ]


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not():
    first, second, other = Dataset(DataConfig()), Dataset(DataConfig()), Dataset(DataConfig(seed=43))

    def wire(dataset: Dataset) -> list[str]:
        code = dataset.orgs()[0]["code"]
        return [
            render_content(q, dataset.table(q, code, p), code, p)
            for q, p in (("SALES_ORG", MONTH_KEY), ("SALES_TOTAL", MONTH_KEY), ("ORDER_STATUS", DATE_KEY))
        ]

    assert wire(first) == wire(second)
    assert first.orgs() == second.orgs() and first.orgs() != other.orgs()
    assert wire(first) != wire(other)


def test_other_periods_give_other_numbers_for_the_same_accounts_and_materials():
    dataset = Dataset(DataConfig())
    code = dataset.orgs()[0]["code"]
    november, october = (dataset.table("SALES_ORG", code, m).rows for m in (202611, 202610))
    assert [r[:5] for r in november] == [r[:5] for r in october]
    assert [r[5:] for r in november] != [r[5:] for r in october]
    day1, day2 = (dataset.table("ORDER_STATUS", code, d).rows for d in (20261126, 20261127))
    assert day1 != day2


def decimals(value: float) -> int:
    return -Decimal(repr(value)).normalize().as_tuple().exponent


def test_values_follow_the_contract_rules():
    dataset = Dataset(DataConfig())
    sales = all_tables(dataset, "SALES_ORG", MONTH_KEY)
    totals = all_tables(dataset, "SALES_TOTAL", MONTH_KEY)
    orders = all_tables(dataset, "ORDER_STATUS", DATE_KEY)
    amounts = (
        [v for r in sales for v in r[5:7]]
        + [v for r in totals for v in (r[1], r[2], r[4])]
        + [v for r in orders for v in r[2:6]]
    )
    percents = [r[7] for r in sales] + [v for r in totals for v in (r[3], r[5])]
    counts = [v for r in orders for v in r[6:]]
    assert None in amounts and None in percents
    assert all(v is None or (type(v) is float and decimals(v) <= 2) for v in amounts)
    assert all(v is None or (type(v) is float and decimals(v) <= 1) for v in percents)
    assert all(type(v) is int and v >= 0 for v in counts) and any(counts)
    assert any(v is not None and v < 0 for v in amounts), "some returns (negative sales)"
    assert any(r[5] == 0 for r in sales) and any(r[1] == 0 for r in totals), "zero targets"
    achieved = [r[3] for r in totals if r[3] is not None]
    assert min(achieved) < 100 < max(achieved)
    assert HANGUL.search(sales[0][1])


def test_sales_total_ach_is_est_over_target_rounded_half_away():
    dataset = Dataset(DataConfig())
    checked = 0
    for row in all_tables(dataset, "SALES_TOTAL", MONTH_KEY):
        _, target, est, ach, _, _ = row
        if target:
            expected = (Decimal(repr(est)) / Decimal(repr(target)) * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)
            assert ach is None or Decimal(repr(ach)) == expected, row
            checked += ach is not None
        else:
            assert ach is None, row
    assert checked > 100


def test_exact_ties_exist_in_sales_total_and_within_accounts():
    dataset = Dataset(DataConfig())
    totals = [r for r in all_tables(dataset, "SALES_TOTAL", MONTH_KEY) if r[1] and r[3] is not None]
    values = [(r[1], r[2], r[3]) for r in totals]
    assert len(values) > len(set(values)), "accounts with equal target, est. sales and ach"
    assert any(o[3] == r[3] and o[1] != r[1] for r in totals for o in totals), "equal ach, other target"
    sales = all_tables(dataset, "SALES_ORG", MONTH_KEY)
    gaps = [(r[0], r[5] - r[6]) for r in sales if r[5] is not None and r[6] is not None]
    assert len(gaps) - len(set(gaps)) > 10, "equal gaps within an account"


def test_public_helpers_agree_with_the_served_tables():
    dataset = Dataset(DataConfig())
    for org in dataset.orgs():
        code = org["code"]
        accounts = dataset.accounts(code)
        assert [r[0] for r in dataset.table("SALES_TOTAL", code, MONTH_KEY).rows] == accounts
        groups = {r[2] for r in dataset.table("SALES_ORG", code, MONTH_KEY).rows}
        assert groups == (set(dataset.product_groups(code)) if accounts else set())
        assert all(HANGUL.search(r[1]) for r in dataset.table("SALES_ORG", code, MONTH_KEY).rows)
    assert len(dataset.product_groups(dataset.orgs()[0]["code"])) == 6


def test_large_preset_is_about_a_million_rows_and_one_org_is_served_alone():
    """A query for one organization builds that organization's data only, never the whole
    million-row preset (Dataset is lazy and caches what it built)."""
    config = preset("large")
    assert 950_000 <= config.sales_org_rows_total <= 1_050_000
    assert config.orgs == 40
    with serve_in_thread(config, TOKEN) as running:
        org = running.dataset.orgs()[0]
        response = requests.post(
            f"{running.base_url}/api/v1/query",
            json={"query": "SALES_ORG", "params": params_for("SALES_ORG", org)},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=120,
        )
        built = {
            "orgs": running.dataset._org.cache_info().currsize,
            "sales": running.dataset._sales.cache_info().currsize,
            "tables": running.dataset.table.cache_info().currsize,
        }
    rows = table_of(response)["rows"]
    assert len(rows) == config.accounts_per_org * config.materials_per_account == 25_000
    assert built == {"orgs": 1, "sales": 1, "tables": 1}, f"serving one org of {config.orgs} built {built}"


def test_stats_keep_the_most_queries_in_flight_at_once_until_reset(api, standin):
    """Three delayed queries at once, two of them for a sales org: the stats' high-water marks
    say 3 and 2, none in flight after; a reset starts the marks again from what is in flight
    then (nothing)."""
    from concurrent.futures import ThreadPoolExecutor

    org = org_of(standin.dataset, "ordinary")
    asks = [("SALES_ORG_LIST", None), ("SALES_ORG", params_for("SALES_ORG", org))]
    asks.append(("SALES_TOTAL", params_for("SALES_TOTAL", org)))
    api.session.post(f"{api.base}/_admin/faults", json=[{"kind": "delay", "seconds": 0.5}]).raise_for_status()
    assert api.session.get(f"{api.base}/_admin/stats").json()["max_in_flight"] == 0
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda ask: api(*ask), asks))
    assert [a.status_code for a in answers] == [200] * 3
    assert api("SALES_ORG_LIST").status_code == 200  # alone: the marks stay
    stats = api.session.get(f"{api.base}/_admin/stats").json()
    flight = ("in_flight", "max_in_flight", "org_in_flight", "max_org_in_flight")
    assert (stats["total"], *(stats[k] for k in flight)) == (4, 0, 3, 0, 2)
    reset = api.session.delete(f"{api.base}/_admin/stats").json()
    assert (reset["total"], *(reset[k] for k in flight)) == (0, 0, 0, 0, 0)
    assert api.session.get(f"{api.base}/_admin/stats").json()["max_in_flight"] == 0
