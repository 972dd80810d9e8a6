"""Read-only views of the card store for people: subscribers, a user's stored cards, re-rendering.

Shared by the operators' CLI (``include.ops.cli``) and the card-preview plugin, so both show
exactly what the Teams bot reads: the stored ``cards`` jsonb, untouched. Re-rendering in the
other locale uses the same ``include.cards.render_cards`` as the pipeline, with the card
context taken from the stored overview page (where the contract puts it).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook

from include import card_store
from include.cards import render_cards
from include.config import SUPPORTED_LOCALES
from include.scenarios import ScenarioError, load_scenario
from include.scenarios.pages import CONTEXT_KEYS

SUBSCRIBER_COLUMNS = ("user_id", "display_name", "locale", "sales_org_cd", "active", "has_cards")
RESULT_COLUMNS = (
    "scenario_id",
    "sales_org_cd",
    "run_id",
    "data_interval_end",
    "updated_at",
    "content_hash",
    "pages",
    "cards",
)


_NUMBERED = re.compile(r"^([a-z][a-z0-9_]*?)_(\d+)$")  # a kind's numbered page: account_detail_3


class NotFound(LookupError):
    """The user (or scenario) asked for has nothing in the card store."""


def _rows(pg: PostgresHook, sql: str, params: tuple | dict = ()) -> list[tuple]:
    """All rows through a plain cursor (the hook's helpers log every statement at INFO)."""
    with card_store.transaction(pg) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def subscribers(pg: PostgresHook, search: str = "", limit: int = 200) -> list[dict[str, Any]]:
    """Subscribers whose user_id or display name contains ``search`` (any case), user_id order."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = _rows(
        pg,
        "SELECT s.user_id, s.display_name, s.locale, s.sales_org_cd, s.active,"
        " EXISTS (SELECT 1 FROM user_scenario_result r WHERE r.user_id = s.user_id)"
        " FROM card_subscriber s WHERE s.user_id ILIKE %(p)s OR s.display_name ILIKE %(p)s"
        " ORDER BY s.user_id LIMIT %(limit)s",
        {"p": pattern, "limit": limit},
    )
    return [dict(zip(SUBSCRIBER_COLUMNS, row)) for row in rows]


def user_cards(pg: PostgresHook, user_id: str) -> dict[str, Any]:
    """The subscriber row (None if gone) and every stored scenario result of ``user_id``."""
    subscriber = _rows(
        pg,
        "SELECT user_id, display_name, locale, sales_org_cd, active, TRUE FROM card_subscriber WHERE user_id = %s",
        (user_id,),
    )
    results = _rows(
        pg,
        f"SELECT {', '.join(RESULT_COLUMNS)} FROM user_scenario_result WHERE user_id = %s ORDER BY scenario_id",
        (user_id,),
    )
    if not subscriber and not results:
        raise NotFound(f"user {user_id!r} is neither a subscriber nor has stored cards")
    results = [dict(zip(RESULT_COLUMNS, row)) for row in results]
    for result in results:
        for field in ("pages", "cards"):
            result[field] = in_page_order(result["scenario_id"], result[field])
    return {
        "user_id": user_id,
        "subscriber": dict(zip(SUBSCRIBER_COLUMNS, subscriber[0])) if subscriber else None,
        "results": results,
    }


@cache
def _page_order(scenario_id: str) -> tuple[str, ...]:
    try:
        return tuple(page.id for page in load_scenario(scenario_id).pages)
    except ScenarioError:  # a scenario retired since its cards were stored
        return ()


def in_page_order(scenario_id: str, by_page: dict[str, Any]) -> dict[str, Any]:
    """jsonb keeps keys in its own order: give them back in the scenario's page order, the
    numbered pages of a kind (``account_detail_1``, ``_2``, …) at their kind's place, by number."""
    order = _page_order(scenario_id)
    rank = {page: i for i, page in enumerate(order)}

    def place(page_id: str) -> tuple[int, int]:
        if page_id in rank:
            return rank[page_id], 0
        numbered = _NUMBERED.match(page_id)
        if numbered and numbered.group(1) in rank:
            return rank[numbered.group(1)], int(numbered.group(2))
        return len(order), 0

    return dict(sorted(by_page.items(), key=lambda item: place(item[0])))


def card_context(user_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """{sales_org_cd, currency, period, as_of} of a stored result, read from its overview page."""
    overview = result["pages"].get("overview")
    if not isinstance(overview, dict):
        raise ValueError(f"user {user_id} scenario {result['scenario_id']}: stored pages have no overview page")
    missing = [field for field in CONTEXT_KEYS if not overview.get(field)]
    if missing:
        raise ValueError(f"user {user_id} scenario {result['scenario_id']}: overview page lacks {missing}")
    return {field: overview[field] for field in CONTEXT_KEYS}


def cards_in_locale(
    user_id: str, result: dict[str, Any], locale: str, stored_locale: str | None, *, erp_base_url: str
) -> dict[str, dict]:
    """The stored cards when ``locale`` is the one they were stored in, else a fresh rendering."""
    if locale not in SUPPORTED_LOCALES:
        raise ValueError(f"unsupported locale {locale!r}; supported: {', '.join(SUPPORTED_LOCALES)}")
    if locale == stored_locale:
        return result["cards"]
    return render_cards(
        result["scenario_id"], result["pages"], locale, erp_base_url=erp_base_url, context=card_context(user_id, result)
    )


def jsonable(value: Any) -> Any:
    """Timestamps as ISO 8601 text, recursively: for JSON output of the views above."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value
