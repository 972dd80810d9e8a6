"""Reference (1): the predecessor's way — one pandas pass per subscriber.

The system this project replaces loaded the merged CSVs into pandas frames once, then
looped over subscribers: mask the frames to the subscriber's org, accounts and product
groups, aggregate with groupby/sort_values, round, render the cards and upsert the row.
Written here plainly and competently (vectorised pandas inside the loop, no deliberate
waste), so the ratio against the engine measures the per-subscriber design, not bad code.

Run as a module in its own process (the bench does): it times loading once and the loop
over an evenly spaced sample of subscribers, and prints JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from include.cards import render_cards
from include.config import settings

ORG, ACCOUNT, GROUP, MATERIAL = "SALES_ORG_CD", "GSCM Account", "GSCM P/Group", "Material"
TARGET, EST, ACH, BILLING = "Target Plan", "Est. Sales", "Ach. vs Target Plan", "Billing"
ORDERS = {"billed": "Billed Order", "open": "Open Order", "blocked": "Blocked Order", "upcoming": "Upcoming Order"}
ISSUES = {
    "credit_block": "Credit Block",
    "delivery_block": "Delivery Block",
    "unconfirmed_delay": "Unconfirmed Delay",
    "do_delay": "DO Delay",
    "incomplete": "Incomplete",
}
TEXT_COLUMNS = {ORG: str, ACCOUNT: str, GROUP: str, MATERIAL: str, "SoldTo": str, "GSCM Product": str}


def _round(value: float | None, places: int) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _amount(value: float) -> float | None:
    return _round(value, 2)


def _ach(est: float, target: float) -> float | None:
    return None if target == 0 else est / target * 100


def load(merged_dir: Path) -> dict[str, pd.DataFrame]:
    """The merged files, whole, as the predecessor read them."""
    files = {"SALES_ORG": "Material.csv", "SALES_TOTAL": "GSCM.csv", "ORDER_STATUS": "OrderStatus.csv"}
    return {query: pd.read_csv(merged_dir / name, dtype=TEXT_COLUMNS) for query, name in files.items()}


def subscriber_pages(sub: dict[str, Any], data: dict[str, pd.DataFrame], context: dict[str, str]) -> dict:
    org, accounts, groups = sub["sales_org_cd"], sub["accounts"], sub["product_groups"]
    st, so, os_ = data["SALES_TOTAL"], data["SALES_ORG"], data["ORDER_STATUS"]
    g = st[(st[ORG] == org) & st[ACCOUNT].isin(accounts)]
    m = so[(so[ORG] == org) & so[ACCOUNT].isin(accounts)]
    o = os_[(os_[ORG] == org) & os_[ACCOUNT].isin(accounts)]
    if groups is not None:
        m = m[m[GROUP].isin(groups)]
        o = o.merge(m[[ACCOUNT, MATERIAL]].drop_duplicates(), on=[ACCOUNT, MATERIAL])

    total_target, total_est = g[TARGET].sum(), g[EST].sum()
    ranked = g.dropna(subset=[TARGET, ACH]).assign(**{EST: g[EST].fillna(0)})
    ranked = ranked[(ranked[TARGET] != 0) & (ranked[ACH] < 100)]
    ranked = ranked.sort_values([ACH, TARGET, EST, ACCOUNT], ascending=[True, False, True, True]).head(5)
    top_accounts = [
        {
            "account": r[ACCOUNT],
            "target": _amount(r[TARGET]),
            "est_sales": _amount(r[EST]),
            "ach_rate": _round(r[ACH], 1),
        }
        for _, r in ranked.iterrows()
    ]

    by_group = m.groupby(GROUP)[[TARGET, EST]].sum().reset_index()
    by_group["ach"] = by_group[EST] / by_group[TARGET].where(by_group[TARGET] != 0) * 100
    by_group = by_group[(by_group[TARGET] != 0) & (by_group["ach"] < 100)]
    by_group = by_group.sort_values(["ach", TARGET, EST, GROUP], ascending=[True, False, True, True]).head(5)
    top_groups = [
        {
            "product_group": r[GROUP],
            "target": _amount(r[TARGET]),
            "est_sales": _amount(r[EST]),
            "ach_rate": _round(r["ach"], 1),
        }
        for _, r in by_group.iterrows()
    ]

    issues = {name: int(o[col].sum()) for name, col in ISSUES.items()}
    orders = {name: _amount(o[col].sum()) for name, col in ORDERS.items()}
    overview = {
        "sales_org_cd": org,
        **context,
        "total_target": _amount(total_target),
        "total_est_sales": _amount(total_est),
        "total_billing": _amount(g[BILLING].sum()),
        "total_ach_rate": _round(_ach(total_est, total_target), 1),
        "top_accounts": top_accounts,
        "top_product_groups": top_groups,
        "issues": issues,
        "orders": orders,
    }

    accounts_page = []
    for entry in top_accounts:
        rows = m[(m[ACCOUNT] == entry["account"]) & m[TARGET].notna()].assign(**{EST: lambda f: f[EST].fillna(0)})
        rows = rows.assign(gap=rows[TARGET] - rows[EST]).sort_values(["gap", MATERIAL], ascending=[False, True]).head(5)
        accounts_page.append(
            entry
            | {
                "materials": [
                    {
                        "material": r[MATERIAL],
                        "product_group": r[GROUP],
                        "target": _amount(r[TARGET]),
                        "est_sales": _amount(r[EST]),
                        "gap": _amount(r["gap"]),
                    }
                    for _, r in rows.iterrows()
                ]
            }
        )

    groups_page = []
    for entry in top_groups:
        rows = m[m[GROUP] == entry["product_group"]].groupby(ACCOUNT)[[TARGET, EST]].sum().reset_index()
        rows = rows.assign(gap=rows[TARGET] - rows[EST]).sort_values(["gap", ACCOUNT], ascending=[False, True]).head(5)
        groups_page.append(
            entry
            | {
                "accounts": [
                    {
                        "account": r[ACCOUNT],
                        "target": _amount(r[TARGET]),
                        "est_sales": _amount(r[EST]),
                        "gap": _amount(r["gap"]),
                    }
                    for _, r in rows.iterrows()
                ]
            }
        )

    per_material = o.groupby(MATERIAL)[list(ORDERS.values()) + list(ISSUES.values())].sum().reset_index()
    per_material = per_material.sort_values(
        [ORDERS["blocked"], ORDERS["open"], MATERIAL], ascending=[False, False, True]
    ).head(10)
    materials = [
        {
            "material": r[MATERIAL],
            **{name: _amount(r[col]) for name, col in ORDERS.items()},
            "issues_total": int(sum(r[col] for col in ISSUES.values())),
        }
        for _, r in per_material.iterrows()
    ]
    return {
        "overview": overview,
        "accounts": accounts_page,
        "product_groups": groups_page,
        "operations": {"issues": issues, "orders": orders, "materials": materials},
    }


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def run(subscribers: list[dict], data: dict[str, pd.DataFrame], contexts: dict[str, dict], cursor) -> list[dict]:
    """The loop: pages, cards and one upsert per subscriber; returns each subscriber's pages."""
    erp = settings().erp_base_url
    all_pages = []
    for sub in subscribers:
        org = sub["sales_org_cd"]
        pages = subscriber_pages(sub, data, {k: contexts[org][k] for k in ("currency", "period", "as_of")})
        cards = render_cards(
            "daily_brief", pages, sub["locale"], erp_base_url=erp, context={"sales_org_cd": org, **contexts[org]}
        )
        pages_json, cards_json = _canonical(pages), _canonical(cards)
        digest = hashlib.sha256(f"{pages_json}\n{cards_json}".encode()).hexdigest()
        cursor.execute(
            "INSERT INTO predecessor_result (user_id, scenario_id, sales_org_cd, pages, cards, content_hash,"
            " run_id, data_interval_end) VALUES (%s, 'daily_brief', %s, %s, %s, %s, 'predecessor', now())"
            " ON CONFLICT (user_id, scenario_id) DO UPDATE"
            " SET pages = EXCLUDED.pages, cards = EXCLUDED.cards, content_hash = EXCLUDED.content_hash",
            (sub["user_id"], org, pages_json, cards_json, digest),
        )
        all_pages.append(pages)
    return all_pages


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.predecessor_loop", description=__doc__)
    parser.add_argument("--merged-dir", type=Path, required=True)
    parser.add_argument("--subscribers", type=Path, required=True, help="JSON list of subscriber dicts")
    parser.add_argument("--contexts", type=Path, required=True, help="JSON {org: {currency, period, as_of}}")
    parser.add_argument("--sample", type=int, required=True, help="subscribers to time (evenly spaced)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from include import card_store

    subscribers = json.loads(args.subscribers.read_text())
    step = max(1, len(subscribers) // args.sample)
    sample = subscribers[::step][: args.sample]
    started = time.perf_counter()
    data = load(args.merged_dir)
    loaded = time.perf_counter()
    with card_store.transaction(card_store.hook()) as cur:
        # Same columns and key as user_scenario_result; a temp table keeps the store untouched.
        cur.execute(
            "CREATE TEMP TABLE predecessor_result (LIKE user_scenario_result INCLUDING DEFAULTS"
            " INCLUDING CONSTRAINTS INCLUDING INDEXES) ON COMMIT DROP"
        )
        pages = run(sample, data, json.loads(args.contexts.read_text()), cur)
    finished = time.perf_counter()
    args.out.write_text(
        json.dumps(
            {
                "load_seconds": loaded - started,
                "loop_seconds": finished - loaded,
                "sampled": len(sample),
                "subscribers": len(subscribers),
                "pages": {s["user_id"]: p for s, p in zip(sample, pages)},
            }
        )
    )


if __name__ == "__main__":
    main()
