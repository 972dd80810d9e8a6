"""What the Teams bot answers when a reader clicks an action on a stored card.

Cards link their pages with ``Action.Execute`` (verb ``open_page``, data ``{scenario_id,
page_id, key}``; docs/contracts/daily-brief.md, Navigation). Teams sends the bot an
``adaptiveCard/action`` invoke with that verb and data; the bot calls ``invoke_response``
with the clicking user's id and sends back what it returns: the card to show in place of the
clicked one.

A click is resolved against the user's *latest* stored row, never anyone else's:
``cards[page_id]`` when that page's key still equals ``key``; else the page of the same kind
whose key does (positions move between runs: an account 2nd yesterday may be 4th today);
else the overview with a "no longer in your brief" note. List pages have no key.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook

from include.card_store import transaction
from include.cards import TEMPLATES_ROOT
from include.cards.files import load_json_object
from include.config import SUPPORTED_LOCALES

VERB = "open_page"
OVERVIEW = "overview"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MESSAGE_CONTENT_TYPE = "application/vnd.microsoft.activity.message"
# The field holding a detail page's key, by page kind (the page id without its _<n>).
KEY_FIELDS = {"account_detail": "account", "product_group_detail": "product_group", "model_detail": "material"}
_DETAIL_ID = re.compile(r"^([a-z][a-z0-9_]*?)_(\d+)$")


class ActionError(ValueError):
    """An invoke the bot cannot answer with a card: unknown verb, malformed data. The
    message says what was wrong; the bot answers it as a text message."""


@dataclass(frozen=True)
class Resolution:
    """The page to show (None: the page is gone, show the overview with a note)."""

    page_id: str | None
    asked: str


def page_kind(page_id: str) -> str:
    """``account_detail_3`` → ``account_detail``; list pages are their own kind."""
    match = _DETAIL_ID.match(page_id)
    return match.group(1) if match and match.group(1) in KEY_FIELDS else page_id


def page_key(page_id: str, page: Any) -> str | None:
    """The code a detail page is about (None for list pages)."""
    field = KEY_FIELDS.get(page_kind(page_id))
    return page.get(field) if field and isinstance(page, dict) else None


def resolve_page(pages: dict[str, Any], page_id: str, key: str | None) -> Resolution:
    """Which of these stored pages answers a click on (page_id, key); see the module doc."""
    kind = page_kind(page_id)
    if kind not in KEY_FIELDS:
        return Resolution(page_id if page_id in pages else None, page_id)
    if page_id in pages and page_key(page_id, pages[page_id]) == key:
        return Resolution(page_id, page_id)
    for candidate, page in pages.items():
        if page_kind(candidate) == kind and page_key(candidate, page) == key:
            return Resolution(candidate, page_id)
    return Resolution(None, page_id)


def _checked(verb: Any, data: Any) -> tuple[str, str, str | None]:
    if verb != VERB:
        raise ActionError(f"unknown verb {verb!r}; this bot answers {VERB!r}")
    if not isinstance(data, dict):
        raise ActionError(f"action data must be an object with scenario_id, page_id and key, got {data!r}")
    scenario_id, page_id, key = data.get("scenario_id"), data.get("page_id"), data.get("key")
    for name, value in (("scenario_id", scenario_id), ("page_id", page_id)):
        if not isinstance(value, str) or not value:
            raise ActionError(f"action data field {name} must be a non-empty string, got {value!r}")
    if key is not None and not isinstance(key, str):
        raise ActionError(f"action data field key must be a string or absent, got {key!r}")
    return scenario_id, page_id, key


def _latest_row(pg: PostgresHook, user_id: str, scenario_id: str) -> tuple[dict, dict, str] | None:
    """The user's stored (pages, cards) of the scenario and their locale (en-US if unknown)."""
    with transaction(pg) as cur:
        cur.execute(
            "SELECT r.pages, r.cards, s.locale FROM user_scenario_result r"
            " LEFT JOIN card_subscriber s ON s.user_id = r.user_id"
            " WHERE r.user_id = %s AND r.scenario_id = %s",
            (user_id, scenario_id),
        )
        row = cur.fetchone()
    if row is None:
        return None
    pages, cards, locale = row
    return pages, cards, locale if locale in SUPPORTED_LOCALES else SUPPORTED_LOCALES[0]


def with_note(card: dict, text: str) -> dict:
    """The card with a highlighted note above its body (the stored card is not touched)."""
    noted = copy.deepcopy(card)
    note = {"type": "TextBlock", "text": text, "wrap": True, "weight": "Bolder", "color": "Attention"}
    noted["body"] = [note, *noted.get("body", [])]
    return noted


def note_text(scenario_id: str, locale: str) -> str:
    labels = load_json_object(TEMPLATES_ROOT / scenario_id / f"labels.{locale}.json")
    return labels.get("page_gone") or "This page is no longer in your brief."


def invoke_response(pg: PostgresHook, *, user_id: str, verb: Any, data: Any) -> dict:
    """The body of the bot's answer to an ``adaptiveCard/action`` invoke from ``user_id``."""
    try:
        scenario_id, page_id, key = _checked(verb, data)
    except ActionError as exc:
        return {"statusCode": 200, "type": MESSAGE_CONTENT_TYPE, "value": str(exc)}
    row = _latest_row(pg, user_id, scenario_id)
    if row is None:
        return {"statusCode": 200, "type": MESSAGE_CONTENT_TYPE, "value": f"You have no {scenario_id} cards yet."}
    pages, cards, locale = row
    resolution = resolve_page(pages, page_id, key)
    if resolution.page_id is not None and resolution.page_id in cards:
        card = cards[resolution.page_id]
    else:
        card = with_note(cards[OVERVIEW], note_text(scenario_id, locale))
    return {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": card}
