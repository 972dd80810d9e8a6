"""An independent, deliberately plain reading of shared/contracts/daily-brief.md.

Loops over row dicts with decimal.Decimal; shares no code with include/scenarios. The
tests compare the engine's pages with these, subscriber by subscriber.

Input rows are dicts keyed by the contract headers (plus SALES_ORG_CD); a missing number
is None or NaN. The one reading the contract leaves open is fixed as the scenario file
states: a single row's null Est. Sales shows as 0 (and its gap is the target).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

CENT = Decimal("0.01")
TENTH = Decimal("0.1")
ISSUES = [
    ("credit_block", "Credit Block"),
    ("delivery_block", "Delivery Block"),
    ("unconfirmed_delay", "Unconfirmed Delay"),
    ("do_delay", "DO Delay"),
    ("incomplete", "Incomplete"),
]
ORDERS = [
    ("billed", "Billed Order"),
    ("open", "Open Order"),
    ("blocked", "Blocked Order"),
    ("upcoming", "Upcoming Order"),
]


def dec(value: Any) -> Decimal | None:
    """A T2A number as the decimal it was written as; None for null."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return Decimal(repr(float(value)))


def zero_if_null(value: Any) -> Decimal:
    d = dec(value)
    return Decimal(0) if d is None else d


def amount(d: Decimal) -> float:
    return float(d.quantize(CENT, rounding=ROUND_HALF_UP))


def rate(d: Decimal | None) -> float | None:
    return None if d is None else float(d.quantize(TENTH, rounding=ROUND_HALF_UP))


def ach_of(est: Decimal, target: Decimal) -> Decimal | None:
    if target == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        return est / target * 100


def reference_pages(
    subscriber: dict[str, Any], data: dict[str, list[dict[str, Any]]], context: dict[str, str]
) -> dict[str, Any]:
    s = subscriber["sales_org_cd"]
    a = set(subscriber["accounts"])
    p = None if subscriber["product_groups"] is None else set(subscriber["product_groups"])

    g = [r for r in data["SALES_TOTAL"] if r["SALES_ORG_CD"] == s and r["GSCM Account"] in a]
    m = [
        r
        for r in data["SALES_ORG"]
        if r["SALES_ORG_CD"] == s and r["GSCM Account"] in a and (p is None or r["GSCM P/Group"] in p)
    ]
    pairs = {(r["GSCM Account"], r["Material"]) for r in m}
    o = [
        r
        for r in data["ORDER_STATUS"]
        if r["SALES_ORG_CD"] == s
        and r["GSCM Account"] in a
        and (p is None or (r["GSCM Account"], r["Material"]) in pairs)
    ]

    total_target = sum((zero_if_null(r["Target Plan"]) for r in g), Decimal(0))
    total_est = sum((zero_if_null(r["Est. Sales"]) for r in g), Decimal(0))
    total_billing = sum((zero_if_null(r["Billing"]) for r in g), Decimal(0))

    # top_accounts: single G rows, dropped when Target Plan or Ach. is null
    candidates = []
    for r in g:
        target, ach = dec(r["Target Plan"]), dec(r["Ach. vs Target Plan"])
        if target is None or ach is None:
            continue
        if target != 0 and ach < 100:
            candidates.append((ach, -target, zero_if_null(r["Est. Sales"]), r["GSCM Account"]))
    candidates.sort()
    top_accounts = [
        {"account": acc, "target": amount(-neg_target), "est_sales": amount(est), "ach_rate": rate(ach)}
        for ach, neg_target, est, acc in candidates[:5]
    ]

    # top_product_groups: M summed per product group
    by_group: dict[str, list[Decimal]] = {}
    for r in m:
        sums = by_group.setdefault(r["GSCM P/Group"], [Decimal(0), Decimal(0)])
        sums[0] += zero_if_null(r["Target Plan"])
        sums[1] += zero_if_null(r["Est. Sales"])
    group_rows = []
    for group, (target, est) in by_group.items():
        ach = ach_of(est, target)
        if target != 0 and ach < 100:
            group_rows.append((ach, -target, est, group))
    group_rows.sort()
    top_groups = [
        {"product_group": grp, "target": amount(-neg_target), "est_sales": amount(est), "ach_rate": rate(ach)}
        for ach, neg_target, est, grp in group_rows[:5]
    ]

    issues = {name: sum(int(r[header]) for r in o) for name, header in ISSUES}
    orders = {name: amount(sum((zero_if_null(r[header]) for r in o), Decimal(0))) for name, header in ORDERS}

    overview = {
        "sales_org_cd": s,
        "currency": context["currency"],
        "period": context["period"],
        "as_of": context["as_of"],
        "total_target": amount(total_target),
        "total_est_sales": amount(total_est),
        "total_billing": amount(total_billing),
        "total_ach_rate": rate(ach_of(total_est, total_target)),
        "top_accounts": top_accounts,
        "top_product_groups": top_groups,
        "issues": issues,
        "orders": orders,
    }

    accounts_page = []
    for entry in top_accounts:
        materials = []
        for r in m:
            target = dec(r["Target Plan"])
            if r["GSCM Account"] != entry["account"] or target is None:
                continue
            est = zero_if_null(r["Est. Sales"])
            materials.append((-(target - est), r["Material"], r["GSCM P/Group"], target, est))
        materials.sort(key=lambda t: (t[0], t[1]))
        accounts_page.append(
            dict(entry)
            | {
                "materials": [
                    {
                        "material": mat,
                        "product_group": grp,
                        "target": amount(t),
                        "est_sales": amount(e),
                        "gap": amount(-neg_gap),
                    }
                    for neg_gap, mat, grp, t, e in materials[:5]
                ]
            }
        )

    groups_page = []
    for entry in top_groups:
        per_account: dict[str, list[Decimal]] = {}
        for r in m:
            if r["GSCM P/Group"] == entry["product_group"]:
                sums = per_account.setdefault(r["GSCM Account"], [Decimal(0), Decimal(0)])
                sums[0] += zero_if_null(r["Target Plan"])
                sums[1] += zero_if_null(r["Est. Sales"])
        ranked = sorted((-(t - e), acc, t, e) for acc, (t, e) in per_account.items())
        groups_page.append(
            dict(entry)
            | {
                "accounts": [
                    {"account": acc, "target": amount(t), "est_sales": amount(e), "gap": amount(-neg_gap)}
                    for neg_gap, acc, t, e in ranked[:5]
                ]
            }
        )

    per_material: dict[str, dict[str, Any]] = {}
    for r in o:
        sums = per_material.setdefault(
            r["Material"], {name: Decimal(0) for name, _ in ORDERS} | {name: 0 for name, _ in ISSUES}
        )
        for name, header in ORDERS:
            sums[name] += zero_if_null(r[header])
        for name, header in ISSUES:
            sums[name] += int(r[header])
    ranked_materials = sorted(per_material.items(), key=lambda kv: (-kv[1]["blocked"], -kv[1]["open"], kv[0]))
    materials_page = [
        {"material": mat}
        | {name: amount(sums[name]) for name, _ in ORDERS}
        | {"issues_total": sum(sums[name] for name, _ in ISSUES)}
        for mat, sums in ranked_materials[:10]
    ]

    return {
        "overview": overview,
        "accounts": accounts_page,
        "product_groups": groups_page,
        "operations": {"issues": issues, "orders": orders, "materials": materials_page},
    }
