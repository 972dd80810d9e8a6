"""An independent, deliberately plain reading of docs/contracts/daily-brief.md (Part 1, v1, and
Part 2, v2).

Loops over row dicts with decimal.Decimal; shares no code with include/ (the engine). The
tests compare the engine's pages with these, subscriber by subscriber.

Each step below is named after the contract section it reads. Part 1:
- "Inputs for one subscriber": `subscriber_rows` picks `G`, `M` and `O`.
- "Arithmetic": `decimal_or_none`, `zero_if_null`, `column_sum`, `rounded_amount`,
  `rounded_rate`, `aggregate_ach_rate`, `gap_of`.
- "Page `overview`": `top_accounts`, `top_product_groups` (both ranked by `ranked_first`),
  `issue_counts`, `order_sums`, `overview_page`.
- "Page `accounts`": `account_materials`, `accounts_page`.
- "Page `product_groups`": `group_accounts`, `product_groups_page` (both detail lists are
  ranked by `largest_gaps`).
- "Page `operations`": `operations_materials`, `operations_page`.
Part 2 (v2), on top of those:
- "Shared definitions": `order_sums`/`issue_counts` again (orders(X), issues(X)), `rank_groups`,
  `group_of_order_rows` (group of an order row), and `subscriber_rows` (P = '{}' is no group).
- "Page `overview`": `display_name`, `total_yoy`, `account_list`, and `with_pages` (links).
- "Pages `accounts` and `product_groups`", "Page `operations`": the links, by `with_pages`.
- "Pages `account_detail_<n>`": `account_top_group`, `account_models`, `account_detail_page`.
- "Pages `product_group_detail_<n>`": `group_top_product`, `group_models`, `group_detail_page`.
- "Pages `model_detail_<k>`": `drill_down_models`, `model_detail_page`.
- "Navigation" (page ids and their order): `reference_pages`.
`reference_pages` puts them together.

Input rows are dicts keyed by the contract headers (plus SALES_ORG_CD); a missing number
is None or NaN. The one reading the contract leaves open is fixed as the scenario file
states: a single row's null Est. Sales shows as 0 (and its gap is the target).
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import Any, NamedTuple

Row = dict[str, Any]

CENT = Decimal("0.01")
TENTH = Decimal("0.1")
TOP_LIST_LENGTH = 5  # top_accounts, top_product_groups, an account's materials, a group's accounts
OPERATIONS_MATERIALS_LENGTH = 10
# (output field, ORDER_STATUS header) of `issues` and of `orders`, in output order.
ISSUE_COLUMNS = (
    ("credit_block", "Credit Block"),
    ("delivery_block", "Delivery Block"),
    ("unconfirmed_delay", "Unconfirmed Delay"),
    ("do_delay", "DO Delay"),
    ("incomplete", "Incomplete"),
)
ORDER_COLUMNS = (
    ("billed", "Billed Order"),
    ("open", "Open Order"),
    ("blocked", "Blocked Order"),
    ("upcoming", "Upcoming Order"),
)


# ----- Arithmetic -----------------------------------------------------------------------


def decimal_or_none(value: Any) -> Decimal | None:
    """A T2A number as the decimal it was written as; None for null (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return Decimal(repr(float(value)))


def zero_if_null(value: Any) -> Decimal:
    """Arithmetic: "`null` amounts count as 0 in sums" (and a single row's null Est. Sales shows as 0)."""
    number = decimal_or_none(value)
    return Decimal(0) if number is None else number


def column_sum(rows: list[Row], header: str) -> Decimal:
    """Σ of one column over rows, nulls as 0 — exact, rounded only when output."""
    return sum((zero_if_null(row[header]) for row in rows), Decimal(0))


def rounded_amount(amount: Decimal) -> float:
    """Arithmetic: output amounts are rounded to 2 decimals, half away from zero, after summing."""
    return float(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def rounded_rate(rate: Decimal | None) -> float | None:
    """Arithmetic: rates are rounded to 1 decimal, half away from zero; null stays null."""
    return None if rate is None else float(rate.quantize(TENTH, rounding=ROUND_HALF_UP))


def aggregate_ach_rate(est_sales: Decimal, target: Decimal) -> Decimal | None:
    """Arithmetic: `ach_rate` of an aggregate = est_sales / target × 100, or null when target is 0."""
    if target == 0:
        return None
    with localcontext() as wide:
        wide.prec = 60
        return est_sales / target * 100


def gap_of(target: Decimal, est_sales: Decimal) -> Decimal:
    """Arithmetic: `gap` = target − est_sales. A zero gap is +0, never -0 (e.g. target -0.0 with a
    null Est. Sales), as this reference has always output it."""
    gap = target - est_sales
    return gap.copy_abs() if gap.is_zero() else gap


def is_behind_target(target: Decimal, ach: Decimal) -> bool:
    """The top lists' filter: target ≠ 0 and ach < 100 (exact values)."""
    return target != 0 and ach < 100


# ----- Inputs for one subscriber --------------------------------------------------------


class SubscriberRows(NamedTuple):
    """`G`, `M` and `O` of one subscriber, in the data's row order."""

    sales_total: list[Row]  # G
    sales_org: list[Row]  # M
    order_status: list[Row]  # O


def subscriber_rows(subscriber: dict[str, Any], data: dict[str, list[Row]]) -> SubscriberRows:
    """Inputs for one subscriber: only rows of `S`, `A` and (when not NULL) `P` — the authorization rule.

    `G` = SALES_TOTAL rows of S and A; `M` = SALES_ORG rows of S, A and P; `O` = ORDER_STATUS
    rows of S and A whose (account, material) pair appears in `M` when P is not NULL.
    """
    org = subscriber["sales_org_cd"]
    accounts = set(subscriber["accounts"])
    groups = None if subscriber["product_groups"] is None else set(subscriber["product_groups"])

    def in_org_and_accounts(row: Row) -> bool:
        return row["SALES_ORG_CD"] == org and row["GSCM Account"] in accounts

    sales_total = [row for row in data["SALES_TOTAL"] if in_org_and_accounts(row)]
    sales_org = [
        row
        for row in data["SALES_ORG"]
        if in_org_and_accounts(row) and (groups is None or row["GSCM P/Group"] in groups)
    ]
    pairs_in_sales_org = {(row["GSCM Account"], row["Material"]) for row in sales_org}
    order_status = [
        row
        for row in data["ORDER_STATUS"]
        if in_org_and_accounts(row) and (groups is None or (row["GSCM Account"], row["Material"]) in pairs_in_sales_org)
    ]
    return SubscriberRows(sales_total, sales_org, order_status)


def group_rows_by(rows: list[Row], header: str) -> dict[Any, list[Row]]:
    """Rows grouped by one column's value, groups in order of first appearance, rows in order."""
    groups: dict[Any, list[Row]] = {}
    for row in rows:
        groups.setdefault(row[header], []).append(row)
    return groups


# ----- Page `overview` ------------------------------------------------------------------


class Standing(NamedTuple):
    """One candidate of a top list, with the exact values its filter and rank use."""

    name: Any  # the account or product group
    target: Decimal
    est_sales: Decimal
    ach: Decimal


def ranked_first(standings: list[Standing]) -> list[Standing]:
    """The top lists' order: ach ascending, target descending, est_sales ascending, then the
    account (or product group) ascending; the first 5."""
    ordered = sorted(
        standings, key=lambda standing: (standing.ach, -standing.target, standing.est_sales, standing.name)
    )
    return ordered[:TOP_LIST_LENGTH]


def standing_entry(name_field: str, standing: Standing) -> dict[str, Any]:
    """A top-list entry as output: {<name_field>, target, est_sales, ach_rate}, rounded."""
    return {
        name_field: standing.name,
        "target": rounded_amount(standing.target),
        "est_sales": rounded_amount(standing.est_sales),
        "ach_rate": rounded_rate(standing.ach),
    }


def top_accounts(sales_total: list[Row]) -> list[dict[str, Any]]:
    """`top_accounts`: single rows of `G` with target ≠ 0 and ach < 100, ranked.

    Ranked on their own, rows whose Target Plan or Ach. vs Target Plan is null are left out;
    a row's ach_rate is its own Ach. vs Target Plan (Arithmetic).
    """
    standings = []
    for row in sales_total:
        target = decimal_or_none(row["Target Plan"])
        ach = decimal_or_none(row["Ach. vs Target Plan"])
        if target is None or ach is None:
            continue
        if is_behind_target(target, ach):
            standings.append(Standing(row["GSCM Account"], target, zero_if_null(row["Est. Sales"]), ach))
    return [standing_entry("account", standing) for standing in ranked_first(standings)]


def top_product_groups(sales_org: list[Row]) -> list[dict[str, Any]]:
    """`top_product_groups`: `M` grouped by GSCM P/Group, target and est_sales summed, kept where
    target ≠ 0 and ach < 100 (aggregate ach), in the top_accounts order."""
    standings = []
    for group, rows in group_rows_by(sales_org, "GSCM P/Group").items():
        target = column_sum(rows, "Target Plan")
        est_sales = column_sum(rows, "Est. Sales")
        ach = aggregate_ach_rate(est_sales, target)
        if ach is not None and is_behind_target(target, ach):
            standings.append(Standing(group, target, est_sales, ach))
    return [standing_entry("product_group", standing) for standing in ranked_first(standings)]


def issue_counts(order_status: list[Row]) -> dict[str, int]:
    """`issues`: each of the five issue counts summed over the rows."""
    return {field: sum(int(row[header]) for row in order_status) for field, header in ISSUE_COLUMNS}


def order_sums(order_status: list[Row]) -> dict[str, Decimal]:
    """`orders` before rounding: billed, open, blocked, upcoming summed over the rows (nulls as 0)."""
    return {field: column_sum(order_status, header) for field, header in ORDER_COLUMNS}


def rounded_orders(sums: dict[str, Decimal]) -> dict[str, float]:
    """`orders` as output: each sum rounded as an amount."""
    return {field: rounded_amount(sums[field]) for field, _ in ORDER_COLUMNS}


def overview_page(
    org: str,
    context: dict[str, str],
    sales_total: list[Row],
    accounts: list[dict[str, Any]],
    product_groups: list[dict[str, Any]],
    issues: dict[str, int],
    orders: dict[str, float],
) -> dict[str, Any]:
    """Page `overview`: the run's context, Σ G of target, est. sales and billing with their
    aggregate ach_rate, the two top lists, and `issues` and `orders` over `O`."""
    total_target = column_sum(sales_total, "Target Plan")
    total_est_sales = column_sum(sales_total, "Est. Sales")
    return {
        "sales_org_cd": org,
        "currency": context["currency"],
        "period": context["period"],
        "as_of": context["as_of"],
        "total_target": rounded_amount(total_target),
        "total_est_sales": rounded_amount(total_est_sales),
        "total_billing": rounded_amount(column_sum(sales_total, "Billing")),
        "total_ach_rate": rounded_rate(aggregate_ach_rate(total_est_sales, total_target)),
        "top_accounts": accounts,
        "top_product_groups": product_groups,
        "issues": issues,
        "orders": orders,
    }


# ----- Pages `accounts` and `product_groups` --------------------------------------------


class GapLine(NamedTuple):
    """A material of an account, or an account of a product group, with its exact gap."""

    name: Any  # the material or account
    target: Decimal
    est_sales: Decimal
    gap: Decimal
    product_group: Any = None  # a material's GSCM P/Group


def largest_gaps(lines: list[GapLine]) -> list[GapLine]:
    """Both detail lists' order: gap descending, then material (or account) ascending; the first 5.
    The sort is stable: lines equal on both keep the order of `M`."""
    ordered = sorted(lines, key=lambda line: (-line.gap, line.name))
    return ordered[:TOP_LIST_LENGTH]


def account_materials(sales_org: list[Row], account: Any) -> list[dict[str, Any]]:
    """An account's `materials`: up to 5 single rows of `M` for it, by largest gap, each
    {material, product_group, target, est_sales, gap}. A row with null Target Plan is left out
    (Arithmetic); a null Est. Sales shows as 0."""
    lines = []
    for row in sales_org:
        target = decimal_or_none(row["Target Plan"])
        if row["GSCM Account"] != account or target is None:
            continue
        est_sales = zero_if_null(row["Est. Sales"])
        lines.append(GapLine(row["Material"], target, est_sales, gap_of(target, est_sales), row["GSCM P/Group"]))
    return [
        {
            "material": line.name,
            "product_group": line.product_group,
            "target": rounded_amount(line.target),
            "est_sales": rounded_amount(line.est_sales),
            "gap": rounded_amount(line.gap),
        }
        for line in largest_gaps(lines)
    ]


def accounts_page(top_accounts: list[dict[str, Any]], sales_org: list[Row]) -> list[dict[str, Any]]:
    """Page `accounts`: each of overview.top_accounts, in that order, with its `materials`."""
    return [entry | {"materials": account_materials(sales_org, entry["account"])} for entry in top_accounts]


def group_accounts(sales_org: list[Row], product_group: Any) -> list[dict[str, Any]]:
    """A group's `accounts`: its rows of `M` summed per account (nulls as 0), up to 5 by largest
    gap, each {account, target, est_sales, gap}."""
    in_group = [row for row in sales_org if row["GSCM P/Group"] == product_group]
    lines = []
    for account, rows in group_rows_by(in_group, "GSCM Account").items():
        target = column_sum(rows, "Target Plan")
        est_sales = column_sum(rows, "Est. Sales")
        lines.append(GapLine(account, target, est_sales, gap_of(target, est_sales)))
    return [
        {
            "account": line.name,
            "target": rounded_amount(line.target),
            "est_sales": rounded_amount(line.est_sales),
            "gap": rounded_amount(line.gap),
        }
        for line in largest_gaps(lines)
    ]


def product_groups_page(top_product_groups: list[dict[str, Any]], sales_org: list[Row]) -> list[dict[str, Any]]:
    """Page `product_groups`: each of overview.top_product_groups, in that order, with its `accounts`."""
    return [entry | {"accounts": group_accounts(sales_org, entry["product_group"])} for entry in top_product_groups]


# ----- Page `operations` ----------------------------------------------------------------


class MaterialOrders(NamedTuple):
    """The rows of `O` for one Material, summed."""

    material: Any
    orders: dict[str, Decimal]  # exact sums, as the ranking needs them
    issues: dict[str, int]


def operations_materials(order_status: list[Row]) -> list[dict[str, Any]]:
    """Operations' `materials`: `O` summed per Material, up to 10 by blocked descending, open
    descending, material ascending; `issues_total` = the five issue counts added."""
    per_material = [
        MaterialOrders(material, order_sums(rows), issue_counts(rows))
        for material, rows in group_rows_by(order_status, "Material").items()
    ]
    per_material.sort(key=lambda entry: (-entry.orders["blocked"], -entry.orders["open"], entry.material))
    return [
        {"material": entry.material} | rounded_orders(entry.orders) | {"issues_total": sum(entry.issues.values())}
        for entry in per_material[:OPERATIONS_MATERIALS_LENGTH]
    ]


def operations_page(issues: dict[str, int], orders: dict[str, float], order_status: list[Row]) -> dict[str, Any]:
    """Page `operations`: `issues` and `orders` as on overview, and the per-material list."""
    return {"issues": issues, "orders": orders, "materials": operations_materials(order_status)}


# ===== Part 2 — v2 ========================================================================

ACCOUNT_DETAIL = "account_detail_{}"
GROUP_DETAIL = "product_group_detail_{}"
MODEL_DETAIL = "model_detail_{}"
MAX_MODEL_PAGES = 50
DETAIL_LIST_LENGTH = 5  # a detail page's models and accounts


# ----- Shared definitions ---------------------------------------------------------------


def rank_groups(rows: list[Row], header: str) -> list[Standing]:
    """`rank_groups(X, key)`: X grouped by key, target and est_sales summed, aggregate ach,
    kept where target ≠ 0 and ach < 100, ordered ach asc, target desc, est_sales asc, key asc
    (code point order). All of them; callers take the first."""
    standings = []
    for key, group in group_rows_by(rows, header).items():
        target = column_sum(group, "Target Plan")
        est_sales = column_sum(group, "Est. Sales")
        ach = aggregate_ach_rate(est_sales, target)
        if ach is not None and is_behind_target(target, ach):
            standings.append(Standing(key, target, est_sales, ach))
    return sorted(standings, key=lambda s: (s.ach, -s.target, s.est_sales, s.name))


def group_of_order_rows(sales_org: list[Row]) -> dict[tuple[Any, Any], Any]:
    """Group of an order row: the GSCM P/Group of the `M` row with the same (GSCM Account,
    Material) — T2A's key of SALES_ORG, so at most one; a pair absent from `M` has no group."""
    groups: dict[tuple[Any, Any], Any] = {}
    for row in sales_org:
        groups.setdefault((row["GSCM Account"], row["Material"]), row["GSCM P/Group"])
    return groups


def orders_and_issues(order_status: list[Row]) -> dict[str, Any]:
    """{orders: orders(X), issues: issues(X)}, sums over no rows 0."""
    return {"orders": rounded_orders(order_sums(order_status)), "issues": issue_counts(order_status)}


def with_pages(entries: list[dict[str, Any]], code_field: str, page_of: dict[Any, str]) -> list[dict[str, Any]]:
    """Each entry with `page` = the page of its code, else null."""
    return [entry | {"page": page_of.get(entry[code_field])} for entry in entries]


def numbered_pages(entries: list[dict[str, Any]], code_field: str, id_pattern: str) -> dict[Any, str]:
    """{code: <kind>_<i+1>} for the entries of a top list (positions, not codes, name pages)."""
    return {entry[code_field]: id_pattern.format(i + 1) for i, entry in enumerate(entries)}


# ----- Page `overview` (v2 fields) ------------------------------------------------------


def total_yoy(sales_total: list[Row]) -> float | None:
    """`total_yoy`: rows of `G` with Billing b and Growth(%) Y-1 g both non-null and g > −100 imply
    prior-year billing p = b × 100 / (100 + g); (Σb − Σp) / Σp × 100, null when there is no such
    row or Σp ≤ 0. Computed exactly (rationals: more than any number of significant digits) and
    rounded once, like a rate; so a single row gives back its own growth, 12.25 → 12.3."""
    billing_sum, prior_sum, rows_used = Fraction(0), Fraction(0), 0
    for row in sales_total:
        billing = decimal_or_none(row["Billing"])
        growth = decimal_or_none(row["Growth(%) Y-1"])
        if billing is None or growth is None or growth <= -100:
            continue
        billing_sum += Fraction(billing)
        prior_sum += Fraction(billing) * 100 / (100 + Fraction(growth))
        rows_used += 1
    if rows_used == 0 or prior_sum <= 0:
        return None
    return rounded_exact_rate((billing_sum - prior_sum) / prior_sum * 100)


def rounded_exact_rate(value: Fraction) -> float:
    """Growth percentages round like rates: 1 decimal, half away from zero — here from an exact
    rational, which no fixed number of decimal digits holds."""
    tenths = abs(value) * 10
    whole, rest = divmod(tenths.numerator, tenths.denominator)
    if 2 * rest >= tenths.denominator:
        whole += 1
    return float(Decimal(-whole if value < 0 else whole).scaleb(-1))


def account_list(accounts: list[str], account_pages: dict[Any, str]) -> list[dict[str, Any]]:
    """`account_list`: A deduplicated, ascending (code point), every code even without data rows,
    each {account, page} — the account's detail page or null."""
    return [{"account": account, "page": account_pages.get(account)} for account in sorted(set(accounts))]


# ----- Pages `account_detail_<n>` -------------------------------------------------------


def account_top_group(sales_org: list[Row], account: Any) -> Standing | None:
    """`top_product_group`: the first of rank_groups(Ma, GSCM P/Group), or None."""
    ranked = rank_groups([row for row in sales_org if row["GSCM Account"] == account], "GSCM P/Group")
    return ranked[0] if ranked else None


def account_models(sales_org: list[Row], account: Any, group: Any) -> list[dict[str, Any]]:
    """`models`: single rows of Ma in the top group — a null Target Plan leaves a row out, a null
    Est. Sales shows as 0, ach_rate is the row's own — by gap desc, then material asc; up to 5.
    Each {material, product, target, est_sales, gap, ach_rate} (page added later)."""
    lines = []
    for row in sales_org:
        target = decimal_or_none(row["Target Plan"])
        if row["GSCM Account"] != account or row["GSCM P/Group"] != group or target is None:
            continue
        est_sales = zero_if_null(row["Est. Sales"])
        lines.append((gap_of(target, est_sales), row["Material"], row, target, est_sales))
    lines.sort(key=lambda line: (-line[0], line[1]))
    return [
        {
            "material": material,
            "product": row["GSCM Product"],
            "target": rounded_amount(target),
            "est_sales": rounded_amount(est_sales),
            "gap": rounded_amount(gap),
            "ach_rate": rounded_rate(decimal_or_none(row["Ach. vs Target Plan"])),
        }
        for gap, material, row, target, est_sales in lines[:DETAIL_LIST_LENGTH]
    ]


def account_detail_page(
    entry: dict[str, Any], sales_total: list[Row], order_status: list[Row], top_group: Standing | None, models: list
) -> dict[str, Any]:
    """Page `account_detail_<n>`: the top_accounts entry's values, a's G row's billing (null as 0)
    and growth (null stays null), orders(Oa), issues(Oa), top_product_group, models."""
    account = entry["account"]
    (g_row,) = [row for row in sales_total if row["GSCM Account"] == account]  # SALES_TOTAL's key
    return {
        "account": account,
        "target": entry["target"],
        "est_sales": entry["est_sales"],
        "ach_rate": entry["ach_rate"],
        "billing": rounded_amount(zero_if_null(g_row["Billing"])),
        "growth": rounded_rate(decimal_or_none(g_row["Growth(%) Y-1"])),
        **orders_and_issues([row for row in order_status if row["GSCM Account"] == account]),
        "top_product_group": None if top_group is None else standing_entry("product_group", top_group),
        "models": models,
    }


# ----- Pages `product_group_detail_<n>` -------------------------------------------------


def group_top_product(sales_org: list[Row], group: Any) -> Standing | None:
    """`top_product`: the first of rank_groups(Mg, GSCM Product), or None."""
    ranked = rank_groups([row for row in sales_org if row["GSCM P/Group"] == group], "GSCM Product")
    return ranked[0] if ranked else None


def group_models(sales_org: list[Row], group: Any, product: Any) -> list[dict[str, Any]]:
    """`models`: rows of Mg with the top product summed per Material (null as 0, no row left
    out), gap = target − est_sales, by gap desc then material asc; up to 5."""
    rows = [row for row in sales_org if row["GSCM P/Group"] == group and row["GSCM Product"] == product]
    lines = []
    for material, material_rows in group_rows_by(rows, "Material").items():
        target = column_sum(material_rows, "Target Plan")
        est_sales = column_sum(material_rows, "Est. Sales")
        lines.append(GapLine(material, target, est_sales, gap_of(target, est_sales)))
    return [
        {
            "material": line.name,
            "target": rounded_amount(line.target),
            "est_sales": rounded_amount(line.est_sales),
            "gap": rounded_amount(line.gap),
        }
        for line in largest_gaps(lines)
    ]


def group_detail_page(
    entry: dict[str, Any], group_orders: list[Row], top_product: Standing | None, models: list, accounts: list
) -> dict[str, Any]:
    """Page `product_group_detail_<n>`: the top_product_groups entry's values, orders(Og),
    issues(Og), top_product, models, and accounts (= product_groups[n-1].accounts)."""
    return {
        "product_group": entry["product_group"],
        "target": entry["target"],
        "est_sales": entry["est_sales"],
        "ach_rate": entry["ach_rate"],
        **orders_and_issues(group_orders),
        "top_product": None if top_product is None else standing_entry("product", top_product),
        "models": models,
        "accounts": accounts,
    }


# ----- Pages `model_detail_<k>` ---------------------------------------------------------


def drill_down_models(models_by_page: list[tuple[str, list[dict[str, Any]]]]) -> tuple[dict[Any, str], dict]:
    """Which materials get a page: those of the detail pages' models lists, in page then list
    order, each once (k = first appearance), at most 50. Returns ({material: model page id},
    {material: linked_from = the page ids whose models list it, in that order})."""
    pages: dict[Any, str] = {}
    linked_from: dict[Any, list[str]] = {}
    for page_id, models in models_by_page:
        for model in models:
            material = model["material"]
            if material not in pages and len(pages) < MAX_MODEL_PAGES:
                pages[material] = MODEL_DETAIL.format(len(pages) + 1)
            if page_id not in linked_from.setdefault(material, []):
                linked_from[material].append(page_id)
    return pages, linked_from


def model_detail_page(material: Any, order_status: list[Row], linked_from: list[str]) -> dict[str, Any]:
    """Page `model_detail_<k>`: orders(Om), issues(Om) over every O row of the material (all the
    subscriber's accounts), issues_total, linked_from."""
    figures = orders_and_issues([row for row in order_status if row["Material"] == material])
    return {
        "material": material,
        **figures,
        "issues_total": sum(figures["issues"].values()),
        "linked_from": linked_from,
    }


# ----- All pages ------------------------------------------------------------------------


def reference_pages(
    subscriber: dict[str, Any],
    data: dict[str, list[dict[str, Any]]],
    context: dict[str, str],
    display_name: str | None = None,
) -> dict[str, Any]:
    """Every page of one subscriber, in the contract's order: overview, accounts,
    product_groups, operations, then account_detail_<n>, product_group_detail_<n> and
    model_detail_<k> as far as they exist.

    `subscriber` has sales_org_cd, accounts and product_groups (None = all, [] = none) and
    usually display_name (else pass `display_name`; without either the overview shows None);
    `data` maps SALES_TOTAL, SALES_ORG and ORDER_STATUS to row dicts; `context` has currency,
    period, as_of.
    """
    rows = subscriber_rows(subscriber, data)
    pages = v1_pages(subscriber, rows, context)
    overview, operations = pages["overview"], pages["operations"]
    account_pages = numbered_pages(overview["top_accounts"], "account", ACCOUNT_DETAIL)
    group_pages = numbered_pages(overview["top_product_groups"], "product_group", GROUP_DETAIL)

    # detail pages' lists first: the model pages are the materials they list
    account_details = []
    for entry in overview["top_accounts"]:
        top_group = account_top_group(rows.sales_org, entry["account"])
        models = [] if top_group is None else account_models(rows.sales_org, entry["account"], top_group.name)
        account_details.append((entry, top_group, models))
    group_of = group_of_order_rows(rows.sales_org)
    group_details = []
    for entry in overview["top_product_groups"]:
        top_product = group_top_product(rows.sales_org, entry["product_group"])
        models = [] if top_product is None else group_models(rows.sales_org, entry["product_group"], top_product.name)
        group_details.append((entry, top_product, models))
    model_pages, linked_from = drill_down_models(
        [(account_pages[entry["account"]], models) for entry, _, models in account_details]
        + [(group_pages[entry["product_group"]], models) for entry, _, models in group_details]
    )

    overview = {
        **overview,
        "display_name": subscriber.get("display_name") if display_name is None else display_name,
        "total_yoy": total_yoy(rows.sales_total),
        "top_accounts": with_pages(overview["top_accounts"], "account", account_pages),
        "top_product_groups": with_pages(overview["top_product_groups"], "product_group", group_pages),
        "account_list": account_list(subscriber["accounts"], account_pages),
    }
    group_accounts_linked = {
        entry["product_group"]: with_pages(entry["accounts"], "account", account_pages)
        for entry in pages["product_groups"]
    }
    out = {
        "overview": overview,
        "accounts": [
            entry
            | {
                "page": account_pages[entry["account"]],
                "materials": with_pages(entry["materials"], "material", model_pages),
            }
            for entry in pages["accounts"]
        ],
        "product_groups": [
            entry
            | {"page": group_pages[entry["product_group"]], "accounts": group_accounts_linked[entry["product_group"]]}
            for entry in pages["product_groups"]
        ],
        "operations": {
            **operations,
            "total_est_sales": overview["total_est_sales"],
            "materials": with_pages(operations["materials"], "material", model_pages),
        },
    }
    for entry, top_group, models in account_details:
        page = account_detail_page(
            entry, rows.sales_total, rows.order_status, top_group, with_pages(models, "material", model_pages)
        )
        if page["top_product_group"] is not None:  # its group's page, if the group has one
            page["top_product_group"]["page"] = group_pages.get(page["top_product_group"]["product_group"])
        out[account_pages[entry["account"]]] = page
    for entry, top_product, models in group_details:
        group_orders = [
            row
            for row in rows.order_status
            if group_of.get((row["GSCM Account"], row["Material"])) == entry["product_group"]
        ]
        out[group_pages[entry["product_group"]]] = group_detail_page(
            entry,
            group_orders,
            top_product,
            with_pages(models, "material", model_pages),
            group_accounts_linked[entry["product_group"]],
        )
    for material, page_id in model_pages.items():
        out[page_id] = model_detail_page(material, rows.order_status, linked_from[material])
    return out


def v1_pages(subscriber: dict[str, Any], rows: SubscriberRows, context: dict[str, str]) -> dict[str, Any]:
    """The four pages of Part 1 (v1): {overview, accounts, product_groups, operations}."""
    accounts = top_accounts(rows.sales_total)
    product_groups = top_product_groups(rows.sales_org)
    issues = issue_counts(rows.order_status)
    orders = rounded_orders(order_sums(rows.order_status))
    return {
        "overview": overview_page(
            subscriber["sales_org_cd"], context, rows.sales_total, accounts, product_groups, issues, orders
        ),
        "accounts": accounts_page(accounts, rows.sales_org),
        "product_groups": product_groups_page(product_groups, rows.sales_org),
        "operations": operations_page(issues, orders, rows.order_status),
    }
