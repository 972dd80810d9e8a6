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
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd

from include.cards import render_cards
from include.config import settings

ORG, ACCOUNT, GROUP, MATERIAL = "SALES_ORG_CD", "GSCM Account", "GSCM P/Group", "Material"
TARGET, EST, ACH, BILLING = "Target Plan", "Est. Sales", "Ach. vs Target Plan", "Billing"
PRODUCT, GROWTH = "GSCM Product", "Growth(%) Y-1"
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


def _ranked(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Grouped by `key`, target and est_sales summed, kept where target != 0 and ach < 100,
    ordered ach asc, target desc, est_sales asc, key asc (the top lists' and rank_groups' rule)."""
    by_key = frame.groupby(key)[[TARGET, EST]].sum().reset_index()
    by_key["ach"] = by_key[EST] / by_key[TARGET].where(by_key[TARGET] != 0) * 100
    by_key = by_key[(by_key[TARGET] != 0) & (by_key["ach"] < 100)]
    return by_key.sort_values(["ach", TARGET, EST, key], ascending=[True, False, True, True])


def _standing(r: pd.Series, name_field: str, key: str) -> dict:
    return {
        name_field: r[key],
        "target": _amount(r[TARGET]),
        "est_sales": _amount(r[EST]),
        "ach_rate": _round(r["ach"], 1),
    }


def _orders_and_issues(o: pd.DataFrame) -> dict:
    return {
        "orders": {name: _amount(o[col].sum()) for name, col in ORDERS.items()},
        "issues": {name: int(o[col].sum()) for name, col in ISSUES.items()},
    }


def _rate_of_fraction(value: Fraction) -> float:
    """1 decimal, half away from zero, from an exact rational."""
    tenths = abs(value) * 10
    whole, rest = divmod(tenths.numerator, tenths.denominator)
    if 2 * rest >= tenths.denominator:
        whole += 1
    return float(Decimal(-whole if value < 0 else whole).scaleb(-1))


def _total_yoy(g: pd.DataFrame) -> float | None:
    """(Σb − Σp) / Σp × 100 with p = b × 100 / (100 + g), over rows with both and g > −100; exact."""
    rows = g[g[BILLING].notna() & g[GROWTH].notna() & (g[GROWTH] > -100)]
    if rows.empty:
        return None
    billing_sum, prior_sum = Fraction(0), Fraction(0)
    for billing, growth in zip(rows[BILLING], rows[GROWTH]):
        b = Fraction(Decimal(repr(float(billing))))
        billing_sum += b
        prior_sum += b * 100 / (100 + Fraction(Decimal(repr(float(growth)))))
    if prior_sum <= 0:
        return None
    return _rate_of_fraction((billing_sum - prior_sum) / prior_sum * 100)


def _largest_gaps(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Target and est_sales summed per `key`, gap = target − est_sales, gap desc then key asc, top 5."""
    rows = frame.groupby(key)[[TARGET, EST]].sum().reset_index()
    return rows.assign(gap=rows[TARGET] - rows[EST]).sort_values(["gap", key], ascending=[False, True]).head(5)


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
    top_groups = [_standing(r, "product_group", GROUP) for _, r in _ranked(m, GROUP).head(5).iterrows()]
    account_pages = {e["account"]: f"account_detail_{i + 1}" for i, e in enumerate(top_accounts)}
    group_pages = {e["product_group"]: f"product_group_detail_{i + 1}" for i, e in enumerate(top_groups)}

    # detail pages' model lists first: the model pages are the materials they list
    account_details = []
    for entry in top_accounts:
        ma = m[m[ACCOUNT] == entry["account"]]
        best = _ranked(ma, GROUP).head(1)
        top_group, models = None, []
        if not best.empty:
            top_group = _standing(best.iloc[0], "product_group", GROUP)
            top_group["page"] = group_pages.get(top_group["product_group"])
            rows = ma[(ma[GROUP] == top_group["product_group"]) & ma[TARGET].notna()]
            rows = rows.assign(**{EST: rows[EST].fillna(0)})
            rows = rows.assign(gap=rows[TARGET] - rows[EST]).sort_values(["gap", MATERIAL], ascending=[False, True])
            models = [
                {
                    "material": r[MATERIAL],
                    "product": r[PRODUCT],
                    "target": _amount(r[TARGET]),
                    "est_sales": _amount(r[EST]),
                    "gap": _amount(r["gap"]),
                    "ach_rate": _round(r[ACH], 1),
                }
                for _, r in rows.head(5).iterrows()
            ]
        account_details.append((entry, top_group, models))
    group_details = []
    for entry in top_groups:
        mg = m[m[GROUP] == entry["product_group"]]
        best = _ranked(mg, PRODUCT).head(1)
        top_product, models = None, []
        if not best.empty:
            top_product = _standing(best.iloc[0], "product", PRODUCT)
            models = [
                {
                    "material": r[MATERIAL],
                    "target": _amount(r[TARGET]),
                    "est_sales": _amount(r[EST]),
                    "gap": _amount(r["gap"]),
                }
                for _, r in _largest_gaps(mg[mg[PRODUCT] == top_product["product"]], MATERIAL).iterrows()
            ]
        group_details.append((entry, top_product, models))
    model_pages: dict[Any, str] = {}
    linked_from: dict[Any, list[str]] = {}
    for page_id, models in [(account_pages[e["account"]], ms) for e, _, ms in account_details] + [
        (group_pages[e["product_group"]], ms) for e, _, ms in group_details
    ]:
        for model in models:
            material = model["material"]
            if material not in model_pages and len(model_pages) < 50:
                model_pages[material] = f"model_detail_{len(model_pages) + 1}"
            if page_id not in linked_from.setdefault(material, []):
                linked_from[material].append(page_id)

    figures = _orders_and_issues(o)
    issues, orders = figures["issues"], figures["orders"]
    overview = {
        "sales_org_cd": org,
        **context,
        "total_target": _amount(total_target),
        "total_est_sales": _amount(total_est),
        "total_billing": _amount(g[BILLING].sum()),
        "total_ach_rate": _round(_ach(total_est, total_target), 1),
        "top_accounts": [e | {"page": account_pages[e["account"]]} for e in top_accounts],
        "top_product_groups": [e | {"page": group_pages[e["product_group"]]} for e in top_groups],
        "issues": issues,
        "orders": orders,
        "display_name": sub.get("display_name"),
        "total_yoy": _total_yoy(g),
        "account_list": [{"account": a, "page": account_pages.get(a)} for a in sorted(set(accounts))],
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
                        "page": model_pages.get(r[MATERIAL]),
                    }
                    for _, r in rows.iterrows()
                ],
                "page": account_pages[entry["account"]],
            }
        )

    group_accounts = {}
    groups_page = []
    for entry in top_groups:
        group_accounts[entry["product_group"]] = [
            {
                "account": r[ACCOUNT],
                "target": _amount(r[TARGET]),
                "est_sales": _amount(r[EST]),
                "gap": _amount(r["gap"]),
                "page": account_pages.get(r[ACCOUNT]),
            }
            for _, r in _largest_gaps(m[m[GROUP] == entry["product_group"]], ACCOUNT).iterrows()
        ]
        groups_page.append(
            entry | {"accounts": group_accounts[entry["product_group"]], "page": group_pages[entry["product_group"]]}
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
            "page": model_pages.get(r[MATERIAL]),
        }
        for _, r in per_material.iterrows()
    ]
    pages = {
        "overview": overview,
        "accounts": accounts_page,
        "product_groups": groups_page,
        "operations": {
            "issues": issues,
            "orders": orders,
            "materials": materials,
            "total_est_sales": overview["total_est_sales"],
        },
    }

    for entry, top_group, models in account_details:
        account = entry["account"]
        (g_row,) = [r for _, r in g[g[ACCOUNT] == account].iterrows()]  # SALES_TOTAL's key: one row
        pages[account_pages[account]] = {
            **entry,
            "billing": _amount(0 if pd.isna(g_row[BILLING]) else g_row[BILLING]),
            "growth": _round(g_row[GROWTH], 1),
            **_orders_and_issues(o[o[ACCOUNT] == account]),
            "top_product_group": top_group,
            "models": [mo | {"page": model_pages.get(mo["material"])} for mo in models],
        }
    # group of an order row: the group of the M row with its (account, material)
    o_groups = o.merge(m[[ACCOUNT, MATERIAL, GROUP]].drop_duplicates([ACCOUNT, MATERIAL]), on=[ACCOUNT, MATERIAL])
    for entry, top_product, models in group_details:
        group = entry["product_group"]
        pages[group_pages[group]] = {
            **entry,
            **_orders_and_issues(o_groups[o_groups[GROUP] == group]),
            "top_product": top_product,
            "models": [mo | {"page": model_pages.get(mo["material"])} for mo in models],
            "accounts": group_accounts[group],
        }
    for material, page_id in model_pages.items():
        figures = _orders_and_issues(o[o[MATERIAL] == material])
        pages[page_id] = {
            "material": material,
            **figures,
            "issues_total": sum(figures["issues"].values()),
            "linked_from": linked_from[material],
        }
    return pages


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
