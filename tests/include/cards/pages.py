"""Shared by the card tests: hand-made page data and ways to look into a rendered card.

Page data is built by hand from docs/contracts/daily-brief.md. Expected texts in the tests
are worked out from the inputs (CLDR formats, contract rounding), not taken from the renderer.
Also imported by a subprocess (test_render's determinism test), so it needs nothing of pytest.
"""

from __future__ import annotations

import json
from pathlib import Path

from include.cards import TEMPLATES_ROOT
from include.config import SUPPORTED_LOCALES

ERP = "https://erp.example.com/app/"
PAGE_IDS = ["overview", "accounts", "product_groups", "operations"]
LABELS = {
    locale: json.loads((TEMPLATES_ROOT / "daily_brief" / f"labels.{locale}.json").read_text(encoding="utf-8"))
    for locale in SUPPORTED_LOCALES
}


def context(**overrides) -> dict:
    return {
        "sales_org_cd": "5503",
        "currency": "USD",
        "period": "2026.11",
        "as_of": "2026-11-26T10:00:00+09:00",
        **overrides,
    }


def issues(n: int = 1) -> dict:
    return {
        "credit_block": 2 * n,
        "delivery_block": n,
        "unconfirmed_delay": 0,
        "do_delay": 3 * n,
        "incomplete": 1200 * n,
    }


def orders() -> dict:
    return {"billed": 1500.0, "open": 250.75, "blocked": 99.99, "upcoming": 0.0}


def make_pages(**ctx) -> dict:
    """One subscriber's full daily_brief output: Korean names, a null rate, a 10-row list."""
    head = context(**ctx)
    top_accounts = [
        {"account": "5009095 삼성전자 판매", "target": 1200.0, "est_sales": 600.0, "ach_rate": 50.0},
        {"account": "5009101 LG Electronics", "target": 800.0, "est_sales": 700.0, "ach_rate": 87.5},
    ]
    groups = [{"product_group": "모니터 MNT", "target": 2000.0, "est_sales": 1300.0, "ach_rate": 65.0}]
    return {
        "overview": {
            **head,
            "total_target": 1234566.5,
            "total_est_sales": 1300.0,
            "total_billing": 0.0,
            "total_ach_rate": None,
            "top_accounts": top_accounts,
            "top_product_groups": groups,
            "issues": issues(),
            "orders": orders(),
        },
        "accounts": [
            {
                **top_accounts[0],
                "materials": [
                    {
                        "material": "MAT-001 모니터 27인치",
                        "product_group": "모니터 MNT",
                        "target": 700.0,
                        "est_sales": 100.0,
                        "gap": 600.0,
                    },
                    {
                        "material": "MAT-002",
                        "product_group": "모니터 MNT",
                        "target": 500.0,
                        "est_sales": 500.0,
                        "gap": 0.0,
                    },
                ],
            },
            {**top_accounts[1], "materials": []},
        ],
        "product_groups": [
            {
                **groups[0],
                "accounts": [
                    {"account": "5009095 삼성전자 판매", "target": 1200.0, "est_sales": 600.0, "gap": 600.0},
                    {"account": "5009101 LG Electronics", "target": 800.0, "est_sales": 700.0, "gap": 100.0},
                ],
            },
        ],
        "operations": {
            "issues": issues(),
            "orders": orders(),
            "materials": [
                {
                    "material": f"MAT-{i:03d} 부품",
                    "billed": 10.0 * i,
                    "open": 5.5,
                    "blocked": 100.0 - i,
                    "upcoming": 0.0,
                    "issues_total": i,
                }
                for i in range(10)
            ],
        },
    }


def texts(node) -> list[str]:
    """Every user-visible string of a card (TextBlock text, Fact title/value, action title)."""
    found = []
    if isinstance(node, dict):
        for key in ("text", "title", "value"):
            if isinstance(node.get(key), str):
                found.append(node[key])
        for value in node.values():
            found.extend(texts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(texts(value))
    return found


def elements_of_type(node, type_name: str) -> list[dict]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == type_name:
            found.append(node)
        for value in node.values():
            found.extend(elements_of_type(value, type_name))
    elif isinstance(node, list):
        for value in node:
            found.extend(elements_of_type(value, type_name))
    return found


def fact(card: dict, title: str) -> str:
    values = [f["value"] for fs in elements_of_type(card, "FactSet") for f in fs["facts"] if f["title"] == title]
    assert len(values) == 1, f"fact {title!r}: {values}"
    return values[0]


def figure(card: dict, label: str) -> str:
    """The value under a figure's label (a Column holding a label and a value text block)."""
    values = [
        column["items"][1]["text"]
        for column in elements_of_type(card, "Column")
        if len(column.get("items", [])) == 2
        and all(item.get("type") == "TextBlock" for item in column["items"])
        and column["items"][0]["text"] == label
    ]
    assert len(values) == 1, f"figure {label!r}: {values}"
    return values[0]


def compact(card: dict) -> bytes:
    return json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def write_template(root: Path, page_id: str, body: list, **card) -> None:
    template = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "body": body,
        **card,
    }
    (root / "daily_brief" / f"{page_id}.json").write_text(json.dumps(template), encoding="utf-8")


# --- worst cases for legibility (docs/contracts/daily-brief.md, Part 2) ---

BIG = 987_654_321_987.65
# The longest codes a card must hold on one line: an SAP customer number (10 characters), an
# SAP material number (18), multi-word product groups and products, codes in Hangul.
LONG_ACCOUNTS = ["0050091234", "계정-0001", "5009095", "A0050091/KR", "0000000001"]
LONG_MATERIALS = ["WF45B6300AP/US", "WF45B6300APW/A2-US", "RF-98765/BLK-2026", "냉장고-RF85B9121", "MAT-000001"]
LONG_GROUPS = [
    "Built-In Refrigerator Premium",
    "Washing Machine",
    "냉장고 프리미엄 빌트인",
    "Air Conditioner 2",
    "TV",
]
LONG_PRODUCTS = [
    "Built-In Refrigerator Premium Pro",
    "Washing Machine Plus",
    "냉장고 프리미엄",
    "Air Conditioner 2 Basic",
    "TV",
]


def _amounts(i: int) -> tuple[float, float]:
    """(target, est_sales) pairs from the largest amounts down, with negatives (returns)."""
    target = [BIG, BIG / 7, 123_456_789.5, 1_000_000.0, 999_999.99][i % 5]
    est = [-BIG, BIG / 9, -12_345_678.25, 999_500.0, 0.0][i % 5]
    return target, est


def _orders(scale: float) -> dict:
    return {"billed": BIG * scale, "open": -BIG * scale, "blocked": BIG / 3 * scale, "upcoming": 0.5 * scale}


def _issues() -> dict:
    return {
        "credit_block": 9_876_543,
        "delivery_block": 123_456,
        "unconfirmed_delay": 0,
        "do_delay": 99_999,
        "incomplete": 1,
    }


def worst_case_pages(currency: str = "USD", *, accounts_in_list: int = 57) -> dict:
    """Every page kind, full: 5 of every list, the longest codes, the largest and negative
    amounts, 50 shown of `accounts_in_list` accounts. Shaped as the contract's v2 pages."""
    head = context(currency=currency)
    rates = [-12_345.6, 0.0, 45.5, 99.9, None]
    top_accounts = []
    for i, account in enumerate(LONG_ACCOUNTS):
        target, est = _amounts(i)
        top_accounts.append(
            {
                "account": account,
                "target": target,
                "est_sales": est,
                "ach_rate": rates[i],
                "page": f"account_detail_{i + 1}",
            }
        )
    top_groups = []
    for i, group in enumerate(LONG_GROUPS):
        target, est = _amounts(i + 1)
        top_groups.append(
            {
                "product_group": group,
                "target": target,
                "est_sales": est,
                "ach_rate": rates[-i],
                "page": f"product_group_detail_{i + 1}",
            }
        )
    models = [
        {"material": m, "target": _amounts(j)[0], "est_sales": _amounts(j)[1], "gap": -BIG if j == 0 else BIG / (j + 1)}
        for j, m in enumerate(LONG_MATERIALS)
    ]
    model_page = {m["material"]: f"model_detail_{k + 1}" for k, m in enumerate(models)}
    codes = sorted(
        {
            *LONG_ACCOUNTS,
            *(f"{5_000_000 + 7919 * k % 999_983:07d}" for k in range(accounts_in_list - len(LONG_ACCOUNTS))),
        }
    )
    detail_of = {a["account"]: a["page"] for a in top_accounts}
    pages = {
        "overview": {
            **head,
            "display_name": "Dr. Maximiliane Oberhauser-Wittgenstein",
            "total_target": BIG,
            "total_est_sales": -BIG,
            "total_billing": BIG / 3,
            "total_ach_rate": -12_345.6,
            "total_yoy": 98_765.4,
            "top_accounts": top_accounts,
            "top_product_groups": top_groups,
            "issues": _issues(),
            "orders": _orders(1),
            "account_list": [{"account": a, "page": detail_of.get(a)} for a in codes],
        },
        "accounts": [
            {
                **a,
                "materials": [
                    {**m, "product_group": LONG_GROUPS[j], "page": model_page[m["material"]] if j % 2 == 0 else None}
                    for j, m in enumerate(models)
                ],
            }
            for a in top_accounts
        ],
        "product_groups": [
            {
                **g,
                "accounts": [
                    {
                        "account": a["account"],
                        "target": a["target"],
                        "est_sales": a["est_sales"],
                        "gap": -BIG if j == 0 else BIG / (j + 2),
                        "page": a["page"] if j != 2 else None,
                    }
                    for j, a in enumerate(top_accounts)
                ],
            }
            for g in top_groups
        ],
        "operations": {
            **head,
            "total_est_sales": -BIG,
            "issues": _issues(),
            "orders": _orders(1),
            "materials": [
                {
                    "material": LONG_MATERIALS[j % 5] if j < 5 else f"{LONG_MATERIALS[j % 5]}-{j}",
                    "billed": BIG / (j + 1),
                    "open": -BIG / (j + 1),
                    "blocked": BIG / (j + 2),
                    "upcoming": 0.0,
                    "issues_total": 9_999_999 - j,
                    "page": model_page.get(LONG_MATERIALS[j]) if j < 5 else None,
                }
                for j in range(10)
            ],
        },
    }
    for n, a in enumerate(top_accounts, start=1):
        pages[f"account_detail_{n}"] = {
            **head,
            **{k: a[k] for k in ("account", "target", "est_sales", "ach_rate")},
            "billing": BIG / 2,
            "growth": -99.9 if n % 2 else None,
            "orders": _orders(1 / n),
            "issues": _issues(),
            "top_product_group": {
                **{k: top_groups[0][k] for k in ("product_group", "target", "est_sales", "ach_rate")},
                "page": "product_group_detail_1",
            },
            "models": [
                {**m, "product": LONG_PRODUCTS[j], "ach_rate": rates[j], "page": model_page[m["material"]]}
                for j, m in enumerate(models)
            ],
        }
    for n, g in enumerate(top_groups, start=1):
        pages[f"product_group_detail_{n}"] = {
            **head,
            **{k: g[k] for k in ("product_group", "target", "est_sales", "ach_rate")},
            "orders": _orders(1 / n),
            "issues": _issues(),
            "top_product": {"product": LONG_PRODUCTS[n - 1], "target": BIG, "est_sales": -BIG, "ach_rate": -12_345.6},
            "models": [{**m, "page": model_page[m["material"]]} for m in models],
            "accounts": pages["product_groups"][n - 1]["accounts"],
        }
    for k, m in enumerate(models, start=1):
        pages[f"model_detail_{k}"] = {
            **head,
            "material": m["material"],
            "orders": _orders(1 / k),
            "issues": _issues(),
            "issues_total": sum(_issues().values()),
            "linked_from": [f"account_detail_{n}" for n in range(1, 6)]
            + [f"product_group_detail_{n}" for n in range(1, 6)],
        }
    return pages
