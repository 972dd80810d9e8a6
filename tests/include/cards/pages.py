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
