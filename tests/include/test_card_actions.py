"""The bot's answer to a card click (include/card_actions.py) against stored rows in the real
card store: the clicked page, the same account at its new position, the overview with a note
when it is gone, and never another user's row."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from include import card_store
from include.card_actions import CARD_CONTENT_TYPE, MESSAGE_CONTENT_TYPE, invoke_response, note_text

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)


def _card(title: str) -> dict:
    return {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": title}]}


def _store(pg, user_id: str, accounts: list[str], locale: str = "en-US") -> None:
    """A stored daily_brief row whose account_detail_<n> pages are these accounts, in order."""
    pg.run(
        "INSERT INTO card_subscriber (user_id, display_name, locale, sales_org_cd, accounts)"
        " VALUES (%s, %s, %s, '5503', %s) ON CONFLICT (user_id) DO UPDATE SET locale = EXCLUDED.locale",
        parameters=(user_id, user_id, locale, accounts),
    )
    pages = {"overview": {"sales_org_cd": "5503"}, "accounts": []}
    pages |= {f"account_detail_{n}": {"account": a} for n, a in enumerate(accounts, start=1)}
    cards = {page_id: _card(f"{user_id} {page_id} {_account(page)}") for page_id, page in pages.items()}
    row = card_store.results.CardRow(
        user_id, "daily_brief", "5503", json.dumps(pages), json.dumps(cards), f"{user_id}-{accounts}"
    )
    card_store.results.store_cards(pg, [row], run_id="r1", interval_end=T0)


def _account(page) -> str:
    return page.get("account", "") if isinstance(page, dict) else ""


def _click(pg, user_id: str, page_id: str, key: str | None = None, **overrides) -> dict:
    data = {"scenario_id": "daily_brief", "page_id": page_id, "key": key} | overrides
    return invoke_response(pg, user_id=user_id, verb=overrides.pop("verb", "open_page"), data=data)


def _text(response: dict) -> str:
    assert response["statusCode"] == 200 and response["type"] == CARD_CONTENT_TYPE, response
    return " | ".join(block["text"] for block in response["value"]["body"])


def test_a_click_opens_the_page_it_names(pg):
    _store(pg, "u1", ["A1", "A2", "A3"])
    assert _text(_click(pg, "u1", "account_detail_2", "A2")) == "u1 account_detail_2 A2"
    assert _text(_click(pg, "u1", "accounts")) == "u1 accounts "


def test_an_account_that_moved_since_the_card_was_sent_is_found_at_its_new_position(pg):
    _store(pg, "u1", ["A1", "A2", "A3", "A4"])
    _store(pg, "u1", ["A1", "A3", "A4", "A2"])  # a later run: A2 is now 4th
    assert _text(_click(pg, "u1", "account_detail_2", "A2")) == "u1 account_detail_4 A2"


def test_a_page_no_longer_in_the_brief_answers_with_the_overview_and_a_note(pg):
    _store(pg, "u1", ["A1"], locale="ko-KR")
    text = _text(_click(pg, "u1", "account_detail_2", "A9"))
    assert text == f"{note_text('daily_brief', 'ko-KR')} | u1 overview "
    assert "브리핑" in text


def test_a_user_is_never_served_another_users_row(pg):
    _store(pg, "u1", ["A1"])
    _store(pg, "u2", ["A1", "SECRET"])
    text = _text(_click(pg, "u1", "account_detail_2", "SECRET"))
    assert "u2" not in text and "SECRET" not in text and text.endswith("u1 overview ")
    assert "u2" not in json.dumps(_click(pg, "u1", "account_detail_1", "A1"))


def test_bad_invokes_get_a_message_naming_the_problem(pg):
    _store(pg, "u1", ["A1"])
    unknown = invoke_response(pg, user_id="u1", verb="delete", data={})
    assert unknown["type"] == MESSAGE_CONTENT_TYPE and "unknown verb 'delete'" in unknown["value"]
    no_page = invoke_response(pg, user_id="u1", verb="open_page", data={"scenario_id": "daily_brief"})
    assert "page_id must be a non-empty string" in no_page["value"]
    nobody = _click(pg, "nobody", "overview")
    assert nobody["type"] == MESSAGE_CONTENT_TYPE and "no daily_brief cards" in nobody["value"]
