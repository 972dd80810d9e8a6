"""Who gets cards: active subscribers from ``card_subscriber``, validated, and their batches.

A bad subscriber row (organization T2A does not know, no accounts, unknown locale or
scenario) is rejected with a message naming the user and the field; the caller dead-letters
it and serves everyone else. An empty ``product_groups`` is not bad: it means no product
group, NULL means all (docs/contracts/daily-brief.md, "Empty product-group list"). Batches
keep one organization's subscribers together so a batch reads few organizations' data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from airflow.providers.postgres.hooks.postgres import PostgresHook

from include.config import SUPPORTED_LOCALES


@dataclass(frozen=True)
class Subscriber:
    user_id: str
    display_name: str
    locale: str
    sales_org_cd: str
    accounts: list[str]
    product_groups: list[str] | None
    scenarios: list[str] | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Rejection:
    user_id: str
    problem: str
    scenario_id: str | None
    row: dict


def load_active(
    pg: PostgresHook, *, sales_orgs: list[str] | None = None, user_ids: list[str] | None = None
) -> list[Subscriber]:
    """Active subscribers, optionally narrowed by the run's params, in user_id order."""
    sql = (
        "SELECT user_id, display_name, locale, sales_org_cd, accounts, product_groups, scenarios"
        " FROM card_subscriber WHERE active"
    )
    params: list = []
    if sales_orgs:
        sql += " AND sales_org_cd = ANY(%s)"
        params.append(list(sales_orgs))
    if user_ids:
        sql += " AND user_id = ANY(%s)"
        params.append(list(user_ids))
    rows = pg.get_records(sql + " ORDER BY user_id", parameters=params)
    return [Subscriber(*row) for row in rows]


def validate(
    subscribers: list[Subscriber], *, known_orgs: set[str], known_scenarios: list[str]
) -> tuple[list[Subscriber], list[Rejection]]:
    """Split into servable subscribers and rejections (one per bad user or bad scenario entry).

    A subscriber naming an unknown scenario is rejected for that scenario only and still
    served its known ones.
    """
    valid: list[Subscriber] = []
    rejected: list[Rejection] = []
    for sub in subscribers:
        row = sub.as_dict()
        problem = None
        if sub.sales_org_cd not in known_orgs:
            problem = f"sales_org_cd {sub.sales_org_cd!r} is not in T2A's SALES_ORG_LIST"
        elif not sub.accounts or any(not a for a in sub.accounts):
            problem = "accounts is empty or holds an empty account code"
        elif sub.locale not in SUPPORTED_LOCALES:
            problem = f"locale {sub.locale!r} is not one of {', '.join(SUPPORTED_LOCALES)}"
        if problem:
            rejected.append(Rejection(sub.user_id, f"user {sub.user_id}: {problem}", None, row))
            continue
        if sub.scenarios is not None:
            unknown = [s for s in sub.scenarios if s not in known_scenarios]
            rejected.extend(
                Rejection(
                    sub.user_id,
                    f"user {sub.user_id}: scenario {s!r} is not defined (known: {', '.join(known_scenarios)})",
                    s,
                    row,
                )
                for s in unknown
            )
            known = [s for s in sub.scenarios if s in known_scenarios]
            if not known:
                continue
            sub = Subscriber(**{**row, "scenarios": known})
        valid.append(sub)
    return valid, rejected


def make_batches(subscribers: list[Subscriber], batch_size: int, max_batches: int) -> list[list[Subscriber]]:
    """Chunk subscribers (sorted by organization, then user) into at most ``max_batches``.

    ``max_batches`` is Airflow's ``max_map_length``; the batch size grows if needed so the
    mapped fan-out always fits.
    """
    if not subscribers:
        return []
    size = max(batch_size, math.ceil(len(subscribers) / max_batches))
    ordered = sorted(subscribers, key=lambda s: (s.sales_org_cd, s.user_id))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]
