"""daily_brief pages from the engine against the contract's plain reading (daily_brief_reference).

Data comes from a small deterministic generator written for these tests: nulls, zero
targets, exact ties on ach and target, sums and rates that land on exact halves, accounts
that are not in the data, product-group-restricted (P NULL, a subset, '{}') and
duplicate-input subscribers with their own display names, several organizations sharing
account codes, long and non-ASCII codes holding '/', order rows without a SALES_ORG row,
materials listed on several detail pages, growth rates at or below −100 and billing that
leaves no positive prior-year base. Every v2 page is compared, and the navigation invariants
(every link names a page that exists, page ids and order) are checked on every result.
"""

from __future__ import annotations

import json
import math
import random
import re
from typing import Any

import pandas as pd
import pytest

from include.scenarios import AudienceResult, load_scenario, run_batch
from tests.support.daily_brief_reference import reference_pages

ORGS = ("5503", "1010", "0042")
GROUPS = ("PG-A", "PG-B", "PG-C", "PG-D", "가전", "PG-F", "PG/G 세탁기")
PRODUCTS = ("P", "P-2", "제품/X", "Ultra Wide 34")
LONG = "WF45B6300AP/US-" + "긴코드" * 12  # a long code holding '/' and non-ASCII
# Amount pools: exact halves once summed (x.xx5), exact ties, zeros and nulls.
TARGETS = [None, 0.0, 0.0, 100.0, 100.0, 200.0, 400.0, 1000.0, 0.01, 1.115, 2500.5, -50.0]
EST = [None, 0.0, 49.0, 50.0, 12.25, 0.125, 0.005, 1.11, 1.115, 99.995, 100.0, 250.25, -0.125]
ACH = [None, 0.0, 12.25, 12.35, 49.0, 50.0, 50.0, 99.95, 99.999, 100.0, 150.0, -10.05]
ORDER_AMOUNTS = [None, 0.0, 0.005, 1.115, 1.11, 10.0, 10.0, 2.675]
# Growth(%) Y-1: halves, nulls, at and below −100 (no prior-year base), and billing that can be
# negative, so that Σp ≤ 0 happens.
GROWTH = [None, 0.0, 12.25, -10.05, 50.0, 10.0, -50.0, -99.95, -100.0, -150.0, 300.0]
BILLING = [None, 0.0, 110.0, 50.0, 1.115, -40.0, 2.675, 1000.0]

HEADERS = {
    "SALES_TOTAL": ["GSCM Account", "Target Plan", "Est. Sales", "Ach. vs Target Plan", "Billing", "Growth(%) Y-1"],
    "SALES_ORG": [
        "GSCM Account",
        "SoldTo",
        "GSCM P/Group",
        "GSCM Product",
        "Material",
        "Target Plan",
        "Est. Sales",
        "Ach. vs Target Plan",
    ],
    "ORDER_STATUS": [
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
    ],
}
TEXT_HEADERS = {"SALES_ORG_CD", "GSCM Account", "SoldTo", "GSCM P/Group", "GSCM Product", "Material"}
COUNT_HEADERS = {"Credit Block", "Delivery Block", "Unconfirmed Delay", "DO Delay", "Incomplete"}
CONTEXT = {
    org: {"currency": cur, "period": "2026.11", "as_of": "2026-11-26T10:00:00+00:00"}
    for org, cur in zip(ORGS, ("USD", "KRW", "EUR"))
}


def frames(rows: dict[str, list[dict[str, Any]]]) -> dict[str, pd.DataFrame]:
    """Row dicts as the DataFrames the pipeline hands over: str ids, float64 amounts, int64 counts."""
    out = {}
    for query, headers in HEADERS.items():
        columns = ["SALES_ORG_CD", *headers]
        frame = pd.DataFrame([[r.get(c) for c in columns] for r in rows[query]], columns=columns)
        for c in columns:
            dtype = "str" if c in TEXT_HEADERS else "int64" if c in COUNT_HEADERS else "float64"
            frame[c] = frame[c].astype(dtype)
        out[query] = frame
    return out


def generate(seed: int) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    rnd = random.Random(seed)
    rows: dict[str, list[dict[str, Any]]] = {q: [] for q in HEADERS}
    accounts = {
        org: [f"00{rnd.randrange(10**5):05d}" for _ in range(14)] + ["계정-1", "0050091", "WF45B6300AP/US", LONG]
        for org in ORGS
    }
    materials = [f"MAT-{i:03d}" for i in range(30)] + ["자재-9", "WF45B6300AP/US", LONG + "/M"]
    for org in ORGS:
        for account in dict.fromkeys(accounts[org]):
            if rnd.random() < 0.9:
                rows["SALES_TOTAL"].append(
                    {
                        "SALES_ORG_CD": org,
                        "GSCM Account": account,
                        "Target Plan": rnd.choice(TARGETS),
                        "Est. Sales": rnd.choice(EST),
                        "Ach. vs Target Plan": rnd.choice(ACH),
                        "Billing": rnd.choice(BILLING),
                        "Growth(%) Y-1": rnd.choice(GROWTH),
                    }
                )
            for material in rnd.sample(materials, rnd.randrange(0, 9)):
                rows["SALES_ORG"].append(
                    {
                        "SALES_ORG_CD": org,
                        "GSCM Account": account,
                        "SoldTo": "S" + account,
                        "GSCM P/Group": rnd.choice(GROUPS),
                        "GSCM Product": rnd.choice(PRODUCTS),
                        "Material": material,
                        "Target Plan": rnd.choice(TARGETS),
                        "Est. Sales": rnd.choice(EST),
                        "Ach. vs Target Plan": rnd.choice(ACH),
                    }
                )
                if rnd.random() < 0.7:
                    rows["ORDER_STATUS"].append(_order(rnd, org, account, material))
            for i in range(rnd.randrange(0, 3)):  # orders for materials absent from SALES_ORG
                rows["ORDER_STATUS"].append(_order(rnd, org, account, f"ORD-ONLY-{i}"))
    subscribers = []
    for n in range(70):
        org = rnd.choice(ORGS)
        mine = rnd.sample(accounts[org], rnd.randrange(0, 9)) + ["NOT-IN-DATA"] * (n % 5 == 0)
        if n % 7 == 0:  # an account code of another org: must not bring that org's rows
            mine.append(rnd.choice(accounts[rnd.choice([o for o in ORGS if o != org])]))
        groups = None if n % 3 else rnd.sample((*GROUPS, "PG-UNKNOWN"), rnd.randrange(0, 4))
        subscribers.append(_subscriber(f"u{n:03d}", org, mine, groups))
        if n % 6 == 0:  # same inputs, other order and duplicates: shares the computation, not the name
            subscribers.append(
                _subscriber(
                    f"u{n:03d}-twin",
                    org,
                    list(reversed(mine)) + mine[:1],
                    None if groups is None else groups[::-1],
                    display_name=f"쌍둥이 {n} / twin",
                )
            )
    return rows, subscribers


def _order(rnd: random.Random, org: str, account: str, material: str) -> dict[str, Any]:
    row = {"SALES_ORG_CD": org, "GSCM Account": account, "Material": material}
    row |= {h: rnd.choice(ORDER_AMOUNTS) for h in ("Billed Order", "Open Order", "Blocked Order", "Upcoming Order")}
    return row | {h: rnd.randrange(0, 4) for h in COUNT_HEADERS}


def _subscriber(
    user_id: str, org: str, accounts: list[str], groups: list[str] | None, display_name: str | None = None
) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "display_name": f"Manager {user_id}" if display_name is None else display_name,
        "sales_org_cd": org,
        "accounts": accounts,
        "product_groups": groups,
        "locale": "en-US",
        "scenarios": None,
    }


def record_rows(data: dict[str, pd.DataFrame]) -> dict[str, list[dict[str, Any]]]:
    return {q: f.to_dict("records") for q, f in data.items()}


def run(rows: dict[str, list[dict[str, Any]]], subscribers: list[dict[str, Any]]) -> list[AudienceResult]:
    return run_batch(load_scenario("daily_brief"), subscribers, frames(rows), CONTEXT)


def pages_by_user(results: list[AudienceResult]) -> dict[str, dict[str, Any]]:
    by_user: dict[str, dict[str, Any]] = {}
    for result in results:
        for user in result.user_ids:
            assert user not in by_user, f"{user} got two results"
            by_user[user] = result.pages_for(user)
    return by_user


def pages_of(result: AudienceResult) -> dict[str, Any]:
    """The pages of an audience's first user."""
    return result.pages_for(result.user_ids[0])


LIST_PAGES = ["overview", "accounts", "product_groups", "operations"]
DETAIL_KINDS = {"account_detail": "account", "product_group_detail": "product_group", "model_detail": "material"}
PAGE_ID = re.compile(r"[a-z][a-z0-9_]*")


def check_navigation(pages: dict[str, Any]) -> None:
    """docs/contracts/daily-brief.md, Navigation: ids, their order, and every link's target."""
    assert all(PAGE_ID.fullmatch(page_id) for page_id in pages), list(pages)
    details = {kind: [p for p in pages if re.fullmatch(kind + r"_\d+", p)] for kind in DETAIL_KINDS}
    expected_ids = LIST_PAGES + [f"{kind}_{n}" for kind, ids in details.items() for n in range(1, len(ids) + 1)]
    assert list(pages) == expected_ids  # overview, accounts, product_groups, operations, then detail pages 1…
    overview = pages["overview"]
    assert len(details["account_detail"]) == len(overview["top_accounts"]) == len(pages["accounts"])
    assert len(details["product_group_detail"]) == len(overview["top_product_groups"]) == len(pages["product_groups"])
    assert len(details["model_detail"]) <= 50

    def target(link: str | None, kind: str, key: str) -> None:
        if link is not None:
            assert re.fullmatch(kind + r"_[1-9]\d*", link) and link in pages, link
            assert pages[link][DETAIL_KINDS[kind]] == key, (link, key)  # the right page for the entry's code

    for i, entry in enumerate(overview["top_accounts"]):
        assert entry["page"] == f"account_detail_{i + 1}" == pages["accounts"][i]["page"]
        target(entry["page"], "account_detail", entry["account"])
    for i, entry in enumerate(overview["top_product_groups"]):
        assert entry["page"] == f"product_group_detail_{i + 1}" == pages["product_groups"][i]["page"]
        target(entry["page"], "product_group_detail", entry["product_group"])
    linked_accounts = {e["account"] for e in overview["top_accounts"]}
    for entry in overview["account_list"]:
        assert (entry["page"] is not None) == (entry["account"] in linked_accounts)
        target(entry["page"], "account_detail", entry["account"])
    for entry in pages["accounts"]:
        for material in entry["materials"]:
            target(material["page"], "model_detail", material["material"])
    for entry in pages["product_groups"]:
        for account in entry["accounts"]:
            target(account["page"], "account_detail", account["account"])
    for material in pages["operations"]["materials"]:
        target(material["page"], "model_detail", material["material"])
    listed_models = []
    for page_id in details["account_detail"] + details["product_group_detail"]:
        page = pages[page_id]
        for model in page["models"]:
            target(model["page"], "model_detail", model["material"])
            assert model["page"] is not None  # with at most 5 + 5 pages of 5 models, every model has a page
            assert page_id in pages[model["page"]]["linked_from"]
            listed_models.append(model["material"])
        top = page.get("top_product_group")
        if top is not None:
            target(top["page"], "product_group_detail", top["product_group"])
        for account in page.get("accounts", []):
            target(account["page"], "account_detail", account["account"])
    assert [pages[p]["material"] for p in details["model_detail"]] == list(dict.fromkeys(listed_models))[:50]
    for page_id in details["model_detail"]:
        linked_from = pages[page_id]["linked_from"]
        assert linked_from and len(set(linked_from)) == len(linked_from) and all(p in pages for p in linked_from)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_engine_pages_equal_reference_for_every_subscriber(seed: int) -> None:
    rows, subscribers = generate(seed)
    data = frames(rows)
    results = run_batch(load_scenario("daily_brief"), subscribers, data, CONTEXT)
    by_user = pages_by_user(results)
    assert set(by_user) == {s["user_id"] for s in subscribers}
    records = record_rows(data)
    for s in subscribers:
        expected = reference_pages(s, records, CONTEXT[s["sales_org_cd"]])
        assert by_user[s["user_id"]] == expected, s["user_id"]
        assert list(by_user[s["user_id"]]) == list(expected)
        assert by_user[s["user_id"]]["overview"]["display_name"] == s["display_name"]
        check_navigation(by_user[s["user_id"]])
    assert json.loads(json.dumps(list(by_user.values()))) == list(by_user.values())
    # the generator must really have exercised what it is meant to
    pages = list(by_user.values())
    listed = [a for p in pages for a in p["overview"]["top_accounts"]]
    assert len(listed) > 30 and any(p["overview"]["total_ach_rate"] is None for p in pages)
    yoy = [p["overview"]["total_yoy"] for p in pages]
    assert any(v is None for v in yoy) and any(v is not None and v < 0 for v in yoy) and any(v and v > 0 for v in yoy)
    details = [p[k] for p in pages for k in p if k not in LIST_PAGES]
    assert any(d.get("top_product_group") is None for d in details if "billing" in d)
    assert any(len(d["linked_from"]) > 1 for d in details if "linked_from" in d)
    assert any(m["page"] is None for p in pages for m in p["operations"]["materials"])
    assert any(m["page"] is not None for p in pages for m in p["operations"]["materials"])
    assert {s["product_groups"] == [] for s in subscribers} == {True, False}


def test_subscribers_with_equal_inputs_share_one_result() -> None:
    rows, _ = generate(5)
    org = "5503"
    accounts = sorted({r["GSCM Account"] for r in rows["SALES_TOTAL"] if r["SALES_ORG_CD"] == org})[:4]
    subscribers = [
        _subscriber("a", org, accounts, ["PG-A", "PG-B"]),
        _subscriber("b", org, accounts[::-1] + accounts, ["PG-B", "PG-A", "PG-A"]),
        _subscriber("c", org, accounts, None),
        _subscriber("d", org, accounts, []),
    ]
    results = run(rows, subscribers)
    assert [r.user_ids for r in results] == [["a", "b"], ["c"], ["d"]]
    assert all(r.sales_org_cd == org for r in results)


def _walk(value: Any, key: str, found: list[Any]) -> list[Any]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                found.append(v)
            _walk(v, key, found)
    elif isinstance(value, list):
        for v in value:
            _walk(v, key, found)
    return found


@pytest.mark.parametrize("seed", [11, 12])
def test_no_page_shows_an_account_group_or_material_outside_the_subscriber(seed: int) -> None:
    rows, subscribers = generate(seed)
    by_user = pages_by_user(run(rows, subscribers))
    for s in subscribers:
        pages, org, mine, groups = by_user[s["user_id"]], s["sales_org_cd"], set(s["accounts"]), s["product_groups"]
        assert set(_walk(pages, "sales_org_cd", [])) == {org}
        assert set(_walk(pages, "account", [])) <= mine
        shown_groups = set(_walk(pages, "product_group", []))
        own_rows = [r for r in rows["SALES_ORG"] if r["SALES_ORG_CD"] == org and r["GSCM Account"] in mine]
        assert shown_groups <= {r["GSCM P/Group"] for r in own_rows}
        if groups is not None:
            assert shown_groups <= set(groups)
            allowed = {r["Material"] for r in own_rows if r["GSCM P/Group"] in groups}
        else:
            allowed = {
                r["Material"]
                for q in ("SALES_ORG", "ORDER_STATUS")
                for r in rows[q]
                if r["SALES_ORG_CD"] == org and r["GSCM Account"] in mine
            }
        assert set(_walk(pages, "material", [])) <= allowed


def test_other_orgs_and_product_groups_never_reach_the_numbers() -> None:
    """Same account code in two orgs and a second product group: only S × A × P counts."""
    mine = {"SALES_ORG_CD": "5503", "GSCM Account": "0050091"}
    other_org = {"SALES_ORG_CD": "1010", "GSCM Account": "0050091"}
    rows = {
        "SALES_TOTAL": [
            mine
            | {
                "Target Plan": 100.0,
                "Est. Sales": 10.0,
                "Ach. vs Target Plan": 10.0,
                "Billing": 1.0,
                "Growth(%) Y-1": None,
            },
            other_org
            | {
                "Target Plan": 9e6,
                "Est. Sales": 1.0,
                "Ach. vs Target Plan": 0.1,
                "Billing": 9e6,
                "Growth(%) Y-1": None,
            },
        ],
        "SALES_ORG": [
            mine
            | {
                "SoldTo": "x",
                "GSCM P/Group": "PG-A",
                "GSCM Product": "p",
                "Material": "M1",
                "Target Plan": 60.0,
                "Est. Sales": 6.0,
                "Ach. vs Target Plan": 10.0,
            },
            mine
            | {
                "SoldTo": "x",
                "GSCM P/Group": "PG-SECRET",
                "GSCM Product": "p",
                "Material": "M2",
                "Target Plan": 40.0,
                "Est. Sales": 4.0,
                "Ach. vs Target Plan": 10.0,
            },
            other_org
            | {
                "SoldTo": "x",
                "GSCM P/Group": "PG-A",
                "GSCM Product": "p",
                "Material": "M1",
                "Target Plan": 9e6,
                "Est. Sales": 0.0,
                "Ach. vs Target Plan": 0.0,
            },
        ],
        "ORDER_STATUS": [
            mine | _counts("M1", 1.0, 1),
            mine | _counts("M2", 500.0, 50),
            mine | _counts("M3-NOT-IN-SALES-ORG", 700.0, 70),
            other_org | _counts("M1", 900.0, 90),
        ],
    }
    (result,) = run(rows, [_subscriber("u", "5503", ["0050091"], ["PG-A"])])
    overview, operations = pages_of(result)["overview"], pages_of(result)["operations"]
    assert (overview["total_target"], overview["total_billing"]) == (100.0, 1.0)  # G is S × A only
    assert overview["top_product_groups"] == [
        {"product_group": "PG-A", "target": 60.0, "est_sales": 6.0, "ach_rate": 10.0, "page": "product_group_detail_1"}
    ]
    assert [m["material"] for m in pages_of(result)["accounts"][0]["materials"]] == ["M1"]
    assert operations["orders"]["blocked"] == 1.0 and operations["issues"]["credit_block"] == 1
    assert [m["material"] for m in operations["materials"]] == ["M1"]
    (unrestricted,) = run(rows, [_subscriber("v", "5503", ["0050091"], None)])
    assert pages_of(unrestricted)["operations"]["orders"]["blocked"] == 1201.0  # NULL P: every O row of S × A


def _counts(material: str, blocked: float, credit: int) -> dict[str, Any]:
    return {
        "Material": material,
        "Billed Order": 0.0,
        "Open Order": 0.0,
        "Blocked Order": blocked,
        "Upcoming Order": None,
        "Credit Block": credit,
        "Delivery Block": 0,
        "Unconfirmed Delay": 0,
        "DO Delay": 0,
        "Incomplete": 0,
    }


def test_subscriber_without_rows_gets_zero_pages() -> None:
    rows, _ = generate(6)
    results = run(
        rows, [_subscriber("nobody", "0042", [], None), _subscriber("ghost", "0042", ["NOT-IN-DATA"], ["PG-A"])]
    )
    for result in results:
        zero_orders = {"billed": 0.0, "open": 0.0, "blocked": 0.0, "upcoming": 0.0}
        zero_issues = {"credit_block": 0, "delivery_block": 0, "unconfirmed_delay": 0, "do_delay": 0, "incomplete": 0}
        user = result.user_ids[0]
        assert pages_of(result) == {
            "overview": {
                "sales_org_cd": "0042",
                "currency": "EUR",
                "period": "2026.11",
                "as_of": "2026-11-26T10:00:00+00:00",
                "display_name": f"Manager {user}",
                "total_target": 0.0,
                "total_est_sales": 0.0,
                "total_billing": 0.0,
                "total_ach_rate": None,
                "total_yoy": None,
                "top_accounts": [],
                "top_product_groups": [],
                "account_list": [{"account": "NOT-IN-DATA", "page": None}] if user == "ghost" else [],
                "issues": zero_issues,
                "orders": zero_orders,
            },
            "accounts": [],
            "product_groups": [],
            "operations": {"total_est_sales": 0.0, "issues": zero_issues, "orders": zero_orders, "materials": []},
        }


def test_empty_query_results_and_an_empty_batch() -> None:
    """T2A may answer a query with no rows; nobody to serve is not an error either."""
    empty = {q: [] for q in HEADERS}
    assert run(empty, []) == []
    restricted, unrestricted = run(
        empty, [_subscriber("p", "5503", ["A"], ["PG-A"]), _subscriber("n", "5503", ["A"], None)]
    )
    assert restricted.shared_pages == unrestricted.shared_pages
    assert (
        pages_of(restricted)["overview"]["total_ach_rate"] is None
        and pages_of(restricted)["operations"]["materials"] == []
    )


def _total_row(account: str, target: float | None, est: float | None, ach: float | None) -> dict[str, Any]:
    return {
        "SALES_ORG_CD": "5503",
        "GSCM Account": account,
        "Target Plan": target,
        "Est. Sales": est,
        "Ach. vs Target Plan": ach,
        "Billing": None,
        "Growth(%) Y-1": None,
    }


def _material_row(account: str, group: str, material: str, target: float | None, est: float | None) -> dict[str, Any]:
    return {
        "SALES_ORG_CD": "5503",
        "GSCM Account": account,
        "SoldTo": "s",
        "GSCM P/Group": group,
        "GSCM Product": "p",
        "Material": material,
        "Target Plan": target,
        "Est. Sales": est,
        "Ach. vs Target Plan": None,
    }


def test_ties_follow_every_tie_break_key_of_the_contract() -> None:
    rows = {
        "SALES_TOTAL": [
            _total_row("B", 200.0, 100.0, 50.0),
            _total_row("A", 200.0, 100.0, 50.0),  # same ach, target, est as B: account decides
            _total_row("C", 300.0, 150.0, 50.0),  # same ach, larger target: first
            _total_row("D", 200.0, 90.0, 50.0),  # same ach and target, smaller est: before A and B
            _total_row("E", 100.0, 10.0, 10.0),  # lowest ach: first of all
            _total_row("F", 100.0, 100.0, 100.0),  # ach 100: not behind
            _total_row("G", 0.0, 0.0, 0.0),  # target 0: left out
            _total_row("H", None, 1.0, 1.0),  # null target: left out
            _total_row("I", 100.0, 1.0, None),  # null ach: left out
        ],
        "SALES_ORG": [
            _material_row("A", "PG-2", "M-b", 10.0, 5.0),  # gap 5
            _material_row("A", "PG-2", "M-a", 10.0, 5.0),  # gap 5: material decides
            _material_row("A", "PG-1", "M-c", 20.0, None),  # null est shows 0: gap 20, first
            _material_row("A", "PG-1", "M-d", None, 1.0),  # null target: not listed
            _material_row("B", "PG-1", "M-a", 20.0, 5.0),  # PG-1: 6 / 40 = 15 %
            _material_row("B", "PG-3", "M-e", 40.0, 6.0),  # PG-3: 6 / 40 = 15 %, same target and est: name decides
            _material_row("C", "PG-4", "M-f", 20.0, 3.0),  # PG-4: 3 / 20 = 15 %, smaller target: after PG-3
        ],
        "ORDER_STATUS": [],
    }
    (result,) = run(rows, [_subscriber("u", "5503", list("ABCDEFGHI"), None)])
    overview = pages_of(result)["overview"]
    assert [a["account"] for a in overview["top_accounts"]] == ["E", "C", "D", "A", "B"]
    assert overview["top_accounts"][0] == {
        "account": "E",
        "target": 100.0,
        "est_sales": 10.0,
        "ach_rate": 10.0,
        "page": "account_detail_1",
    }
    # PG-1: target 20 + null + 20 = 40, est null + 1 + 5 = 6 → 15 %; PG-2: 10 / 20 → 50 %
    assert [(g["product_group"], g["ach_rate"]) for g in overview["top_product_groups"]] == [
        ("PG-1", 15.0),
        ("PG-3", 15.0),
        ("PG-4", 15.0),
        ("PG-2", 50.0),
    ]
    pages = pages_of(result)
    materials_of_a = next(a for a in pages["accounts"] if a["account"] == "A")["materials"]
    assert materials_of_a == [
        {
            "material": "M-c",
            "product_group": "PG-1",
            "target": 20.0,
            "est_sales": 0.0,
            "gap": 20.0,
            "page": "model_detail_2",
        },
        {
            "material": "M-a",
            "product_group": "PG-2",
            "target": 10.0,
            "est_sales": 5.0,
            "gap": 5.0,
            "page": "model_detail_4",
        },
        {
            "material": "M-b",
            "product_group": "PG-2",
            "target": 10.0,
            "est_sales": 5.0,
            "gap": 5.0,
            "page": "model_detail_6",
        },
    ]
    pg1 = pages["product_groups"][0]
    assert [(a["account"], a["gap"], a["page"]) for a in pg1["accounts"]] == [
        ("A", 19.0, "account_detail_4"),
        ("B", 15.0, "account_detail_5"),
    ]
    # v2 detail pages, worked out by hand: each account's top group (rank_groups of its own rows)
    # and that group's single rows; each top group's top product and its materials summed
    tops = {
        p["account"]: (p["top_product_group"] or {}).get("product_group") for k, p in pages.items() if "billing" in p
    }
    assert tops == {"E": None, "C": "PG-4", "D": None, "A": "PG-1", "B": "PG-3"}  # A: PG-1 1/20 = 5 % < PG-2 50 %
    assert [m["material"] for m in pages["account_detail_4"]["models"]] == ["M-c"]  # M-d: null target
    assert [(m["material"], m["gap"]) for m in pages["product_group_detail_1"]["models"]] == [
        ("M-c", 20.0),
        ("M-a", 15.0),
        ("M-d", -1.0),  # summed per material: a null target counts 0 and stays listed
    ]
    assert [m["material"] for m in pages["product_group_detail_4"]["models"]] == ["M-a", "M-b"]  # ties: code order
    # model pages: materials of account_detail_1…5 then product_group_detail_1…5, first appearance
    models = {k: (p["material"], p["linked_from"]) for k, p in pages.items() if k.startswith("model_detail_")}
    assert models == {
        "model_detail_1": ("M-f", ["account_detail_2", "product_group_detail_3"]),
        "model_detail_2": ("M-c", ["account_detail_4", "product_group_detail_1"]),
        "model_detail_3": ("M-e", ["account_detail_5", "product_group_detail_2"]),
        "model_detail_4": ("M-a", ["product_group_detail_1", "product_group_detail_4"]),
        "model_detail_5": ("M-d", ["product_group_detail_1"]),
        "model_detail_6": ("M-b", ["product_group_detail_4"]),
    }


def test_rounding_is_half_away_from_zero_after_exact_sums() -> None:
    rows = {
        "SALES_TOTAL": [
            _total_row("A", 1.115, 1.115, 12.25),  # 12.25 % → 12.3
            _total_row("B", 1.11, 1.11, 12.35),  # 12.35 % (12.3499… as a float) → 12.4
        ],
        "SALES_ORG": [
            _material_row("A", "PG-1", "M1", 400.0, 0.125),  # sums: est 49 over target 400 = 12.25 % → 12.3
            _material_row("A", "PG-1", "M2", None, 48.875),
            _material_row("A", "PG-2", "M3", 100.0, -0.125),  # -0.125 → -0.13
        ],
        "ORDER_STATUS": [],
    }
    (result,) = run(rows, [_subscriber("u", "5503", ["A", "B"], None)])
    overview = pages_of(result)["overview"]
    assert overview["total_target"] == 2.23 and overview["total_est_sales"] == 2.23  # 2.225, not 2.2249999…
    assert [a["ach_rate"] for a in overview["top_accounts"]] == [12.3, 12.4]
    assert [a["target"] for a in overview["top_accounts"]] == [1.12, 1.11]
    groups = {g["product_group"]: g for g in overview["top_product_groups"]}
    assert groups["PG-1"] == {
        "product_group": "PG-1",
        "target": 400.0,
        "est_sales": 49.0,
        "ach_rate": 12.3,
        "page": "product_group_detail_2",
    }
    assert groups["PG-2"]["est_sales"] == -0.13 and groups["PG-2"]["ach_rate"] == -0.1
    assert overview["total_ach_rate"] == 100.0


def test_many_decimal_places_use_exact_wide_integers() -> None:
    """Full-precision doubles (and huge amounts) do not fit 64-bit units: still exact."""
    rows, subscribers = generate(7)
    for r in rows["SALES_ORG"][::3]:
        r["Est. Sales"] = 1234.5678901234567
        r["Target Plan"] = 3.0e17 if r["Target Plan"] else r["Target Plan"]
    data = frames(rows)
    records = record_rows(data)
    by_user = pages_by_user(run_batch(load_scenario("daily_brief"), subscribers, data, CONTEXT))
    for s in subscribers:
        assert by_user[s["user_id"]] == reference_pages(s, records, CONTEXT[s["sales_org_cd"]]), s["user_id"]
    assert any(
        math.isclose(m["est_sales"], 1234.57) for p in by_user.values() for a in p["accounts"] for m in a["materials"]
    )


def test_subscriber_not_asking_for_the_scenario_is_not_served() -> None:
    rows, _ = generate(8)
    subscribers = [_subscriber("yes", "5503", [], None), _subscriber("no", "5503", [], None)]
    subscribers[1]["scenarios"] = ["something_else"]
    assert [r.user_ids for r in run(rows, subscribers)] == [["yes"]]


def test_missing_org_context_names_the_org_and_users() -> None:
    rows, _ = generate(9)
    with pytest.raises(ValueError, match=r"'9999'.*users lost"):
        run(rows, [_subscriber("lost", "9999", ["x"], None)])


def test_amount_column_of_text_is_refused_with_its_name() -> None:
    rows, subscribers = generate(10)
    data = frames(rows)
    data["SALES_TOTAL"]["Billing"] = data["SALES_TOTAL"]["Billing"].astype("str")
    with pytest.raises(ValueError, match=r"SALES_TOTAL data column 'Billing' is str"):
        run_batch(load_scenario("daily_brief"), subscribers, data, CONTEXT)


# --- v2 (docs/contracts/daily-brief.md, Part 2) worked out by hand ---


def _growth_row(account: str, billing: float | None, growth: float | None) -> dict[str, Any]:
    return _total_row(account, 100.0, 50.0, 50.0) | {"Billing": billing, "Growth(%) Y-1": growth}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([("A", 110.0, 10.0), ("B", 50.0, -50.0)], -20.0),  # the contract's example: p = 100, 100
        ([("A", 112.25, 12.25)], 12.3),  # one row gives its own growth back, exactly: 12.25 → 12.3
        ([("A", 10.0, -10.05)], -10.1),  # half away from zero below 0 too
        ([("A", 110.0, 10.0), ("B", 999.0, -100.0), ("C", 5.0, -150.0)], 10.0),  # g ≤ −100: left out
        ([("A", 110.0, 10.0), ("B", None, 50.0), ("C", 70.0, None)], 10.0),  # nulls: left out of both sums
        ([("A", -40.0, 10.0)], None),  # Σp ≤ 0
        ([("A", 110.0, 10.0), ("B", -100.0, 0.0)], None),  # Σp = 0
        ([("A", 0.0, 10.0)], None),
        ([("A", 5.0, -100.0), ("B", None, None)], None),  # no row qualifies
        ([], None),
    ],
)
def test_total_yoy_is_the_growth_of_billing_over_the_implied_prior_year(
    rows: list[tuple[str, float | None, float | None]], expected: float | None
) -> None:
    data = {
        "SALES_TOTAL": [_growth_row(account, billing, growth) for account, billing, growth in rows],
        "SALES_ORG": [_material_row("A", "PG-1", "M1", 10.0, 1.0)],
        "ORDER_STATUS": [],
    }
    results = run(
        data, [_subscriber("u", "5503", ["A", "B", "C"], None), _subscriber("p", "5503", ["A", "B", "C"], [])]
    )
    assert [pages_of(r)["overview"]["total_yoy"] for r in results] == [expected, expected]  # over G: P plays no part
    records = record_rows(frames(data))
    assert reference_pages(_subscriber("u", "5503", ["A", "B", "C"], None), records, CONTEXT["5503"]) == pages_of(
        results[0]
    )


def _order_row(account: str, material: str, blocked: float, credit: int) -> dict[str, Any]:
    return {"SALES_ORG_CD": "5503", "GSCM Account": account} | _counts(material, blocked, credit)


def test_empty_product_group_list_means_no_product_group() -> None:
    """P = '{}': M and O are empty; G (and so the account pages) is unaffected."""
    rows = {
        "SALES_TOTAL": [_total_row("A", 100.0, 10.0, 10.0) | {"Billing": 110.0, "Growth(%) Y-1": 10.0}],
        "SALES_ORG": [_material_row("A", "PG-1", "M1", 10.0, 1.0)],
        "ORDER_STATUS": [_order_row("A", "M1", 5.0, 1), _order_row("A", "NO-M-ROW", 7.0, 2)],
    }
    none, everything = run(rows, [_subscriber("none", "5503", ["A"], []), _subscriber("all", "5503", ["A"], None)])
    pages = pages_of(none)
    assert list(pages) == ["overview", "accounts", "product_groups", "operations", "account_detail_1"]
    assert pages["overview"]["top_product_groups"] == [] and pages["overview"]["orders"]["blocked"] == 0.0
    assert pages["overview"]["total_yoy"] == 10.0 and pages["operations"]["materials"] == []
    detail = pages["account_detail_1"]
    assert (detail["top_product_group"], detail["models"], detail["orders"]["blocked"]) == (None, [], 0.0)
    assert pages_of(everything)["account_detail_1"]["orders"]["blocked"] == 12.0
    records = record_rows(frames(rows))
    assert pages == reference_pages(_subscriber("none", "5503", ["A"], []), records, CONTEXT["5503"])


def test_order_rows_belong_to_the_group_of_their_sales_org_row() -> None:
    """An O row counts on its account's and its material's pages; on a group page only when
    the M row of its (account, material) is in that group."""
    rows = {
        "SALES_TOTAL": [_total_row("A", 100.0, 10.0, 10.0), _total_row("B", 100.0, 20.0, 20.0)],
        "SALES_ORG": [
            _material_row("A", "PG-1", "X", 100.0, 10.0),
            _material_row("B", "PG-2", "Y", 100.0, 20.0),
        ],
        "ORDER_STATUS": [
            _order_row("A", "X", 1.0, 1),
            _order_row("B", "X", 10.0, 10),  # no M row for (B, X): no group, but material X and account B
            _order_row("B", "Y", 100.0, 100),
        ],
    }
    (result,) = run(rows, [_subscriber("u", "5503", ["A", "B"], None)])
    pages = pages_of(result)
    groups = {p["product_group"]: p["orders"]["blocked"] for k, p in pages.items() if "top_product" in p}
    assert groups == {"PG-1": 1.0, "PG-2": 100.0}
    accounts = {p["account"]: p["orders"]["blocked"] for k, p in pages.items() if "billing" in p}
    assert accounts == {"A": 1.0, "B": 110.0}
    models = {
        p["material"]: (p["orders"]["blocked"], p["issues_total"]) for k, p in pages.items() if "linked_from" in p
    }
    assert models == {"X": (11.0, 11), "Y": (100.0, 100)}  # every account of O
    assert pages == reference_pages(
        _subscriber("u", "5503", ["A", "B"], None), record_rows(frames(rows)), CONTEXT["5503"]
    )


def test_model_pages_stop_at_fifty_in_page_then_list_order() -> None:
    """5 account pages and 5 group pages of 5 models each, all different materials: 50 model
    pages, the most there can be (so the limit of 50 never has to drop one), while M holds
    more than 50 materials."""
    totals, materials = [], []
    for i in range(1, 6):  # top accounts A1…A5: each one's own group H<i> (50 %), 6 materials
        totals.append(_total_row(f"A{i}", 100.0, float(i), float(i)))
        materials += [_material_row(f"A{i}", f"H{i}", f"h{i}-{j}", 100.0, 50.0 + j) for j in range(6)]
    for i in range(1, 7):  # groups G1…G6 behind at 1 %, through accounts that are not behind
        totals.append(_total_row(f"Z{i}", 100.0, 100.0, 100.0))
        materials += [_material_row(f"Z{i}", f"G{i}", f"g{i}-{j}", 100.0 + j, 1.0) for j in range(6)]
    rows = {"SALES_TOTAL": totals, "SALES_ORG": materials, "ORDER_STATUS": []}
    mine = [r["GSCM Account"] for r in totals]
    (result,) = run(rows, [_subscriber("u", "5503", mine, None)])
    pages = pages_of(result)
    models = [k for k in pages if k.startswith("model_detail_")]
    assert len({m["Material"] for m in materials}) == 66 and len(models) == 50
    assert pages["model_detail_1"]["material"] == "h1-0" and pages["model_detail_50"]["material"] == "g5-1"
    assert pages["model_detail_50"]["linked_from"] == ["product_group_detail_5"]
    check_navigation(pages)
    assert pages == reference_pages(_subscriber("u", "5503", mine, None), record_rows(frames(rows)), CONTEXT["5503"])


def test_users_with_equal_inputs_share_every_page_but_their_name() -> None:
    rows, _ = generate(13)
    org = "5503"
    accounts = sorted({r["GSCM Account"] for r in rows["SALES_TOTAL"] if r["SALES_ORG_CD"] == org})[:5]
    (result,) = run(
        rows,
        [_subscriber("a", org, accounts, None, "김민준"), _subscriber("b", org, accounts[::-1], None, "Lee / 이")],
    )
    a, b = result.pages_for("a"), result.pages_for("b")
    assert (a["overview"]["display_name"], b["overview"]["display_name"]) == ("김민준", "Lee / 이")
    assert {k: v for k, v in a["overview"].items() if k != "display_name"} == {
        k: v for k, v in b["overview"].items() if k != "display_name"
    }
    assert list(result.templates) == ["overview"] and list(a) == list(b) == list(result.page_ids)
    assert all(a[k] is b[k] is result.shared_pages[k] for k in a if k != "overview")
