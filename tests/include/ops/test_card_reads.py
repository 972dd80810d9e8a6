"""The read-only card views shared by the CLI and the card preview, on a real card store:
subscriber search, a user's stored cards in page order, and cards in another locale."""

from __future__ import annotations

import copy
import json

import pytest

from include import card_store
from include.cards import render_cards
from include.ops import card_reads
from tests.include.card_store.card_rows import T0
from tests.include.cards.pages import ERP, context, make_pages

DAILY_BRIEF_PAGES = ["overview", "accounts", "product_groups", "operations"]


def add_subscriber(pg, user_id: str, display_name: str, *, locale: str = "en-US", active: bool = True) -> None:
    pg.run(
        "INSERT INTO card_subscriber (user_id, display_name, locale, sales_org_cd, accounts, active)"
        " VALUES (%s, %s, %s, '5503', ARRAY['A'], %s)",
        parameters=(user_id, display_name, locale, active),
    )


def store(pg, user_id: str, scenario_id: str, pages: dict, cards: dict) -> None:
    row = card_store.results.CardRow(
        user_id, scenario_id, "5503", json.dumps(pages), json.dumps(cards), f"hash-{user_id}-{scenario_id}"
    )
    card_store.results.store_cards(pg, [row], run_id="r1", interval_end=T0)


def stored_en_cards() -> dict:
    """Real en-US cards, marked so that a stored card can be told from a fresh rendering.

    A copy: rendered cards share their constant parts with later renderings (read-only)."""
    cards = copy.deepcopy(render_cards("daily_brief", make_pages(), "en-US", erp_base_url=ERP, context=context()))
    cards["overview"]["body"][0]["text"] = "AS STORED"
    return cards


def test_subscriber_search_matches_id_or_name_in_any_case_and_escapes_wildcards(pg):
    add_subscriber(pg, "u_1", "Kim Minjun")
    add_subscriber(pg, "ux1", "Lee 100% Seoyeon")
    add_subscriber(pg, "u2", "Park\\Doyun", locale="ko-KR", active=False)
    add_subscriber(pg, "u3", "kimchi lover")
    store(pg, "u3", "daily_brief", {"overview": {}}, {"overview": {}})

    def ids(search: str, limit: int = 200) -> list[str]:
        return [s["user_id"] for s in card_reads.subscribers(pg, search, limit)]

    assert ids("") == ["u2", "u3", "u_1", "ux1"]  # user_id order
    assert ids("KIM") == ["u3", "u_1"]  # name, any case
    assert ids("_") == ["u_1"]  # a literal underscore, not "any character"
    assert ids("%") == ["ux1"]  # a literal percent sign, not "anything"
    assert ids("\\") == ["u2"]
    assert ids("u", limit=2) == ["u2", "u3"]
    assert card_reads.subscribers(pg, "u3") == [
        {
            "user_id": "u3",
            "display_name": "kimchi lover",
            "locale": "en-US",
            "sales_org_cd": "5503",
            "active": True,
            "has_cards": True,
        }
    ]
    assert [(s["active"], s["has_cards"]) for s in card_reads.subscribers(pg, "u2")] == [(False, False)]
    with pytest.raises(ValueError, match="^limit must be at least 1, got 0$"):
        card_reads.subscribers(pg, "", 0)


def test_user_cards_come_in_the_scenarios_page_order(pg):
    add_subscriber(pg, "u1", "Kim Minjun", locale="ko-KR")
    store(pg, "u1", "daily_brief", make_pages(), stored_en_cards())
    # jsonb orders keys by length first: not the order a person reads the pages in
    assert list(pg.get_first("SELECT cards FROM user_scenario_result")[0]) != DAILY_BRIEF_PAGES

    view = card_reads.user_cards(pg, "u1")
    assert view["user_id"] == "u1"
    assert view["subscriber"] == {
        "user_id": "u1",
        "display_name": "Kim Minjun",
        "locale": "ko-KR",
        "sales_org_cd": "5503",
        "active": True,
        "has_cards": True,
    }
    [result] = view["results"]
    assert list(result["pages"]) == DAILY_BRIEF_PAGES and list(result["cards"]) == DAILY_BRIEF_PAGES
    assert result["pages"] == make_pages() and result["cards"] == stored_en_cards()
    assert (result["scenario_id"], result["run_id"], result["data_interval_end"]) == ("daily_brief", "r1", T0)
    assert result["content_hash"] == "hash-u1-daily_brief"


def test_user_cards_of_a_gone_subscriber_and_of_nobody(pg):
    pages = {"zeta": {"n": 1}, "alpha": {"n": 2}}
    store(pg, "gone", "retired_brief", pages, pages)  # a scenario no longer defined
    store(pg, "gone", "daily_brief", make_pages(), stored_en_cards())

    view = card_reads.user_cards(pg, "gone")
    assert view["subscriber"] is None
    assert [r["scenario_id"] for r in view["results"]] == ["daily_brief", "retired_brief"]
    assert view["results"][1]["pages"] == pages  # kept as stored, nothing to order it by
    with pytest.raises(card_reads.NotFound, match="^user 'nobody' is neither a subscriber nor has stored cards$"):
        card_reads.user_cards(pg, "nobody")


def test_cards_in_the_stored_locale_are_the_stored_ones_others_are_rendered():
    result = {"scenario_id": "daily_brief", "pages": make_pages(), "cards": stored_en_cards()}

    same = card_reads.cards_in_locale("u1", result, "en-US", "en-US", erp_base_url=ERP)
    assert same is result["cards"]
    assert same["overview"]["body"][0]["text"] == "AS STORED"

    korean = card_reads.cards_in_locale("u1", result, "ko-KR", "en-US", erp_base_url=ERP)
    assert korean == render_cards("daily_brief", make_pages(), "ko-KR", erp_base_url=ERP, context=context())
    assert korean["overview"]["body"][0]["text"] == "일일 영업 브리핑"

    # stored in Korean, asked in English: rendered afresh, not the stored (marked) cards
    fresh = card_reads.cards_in_locale("u1", result, "en-US", "ko-KR", erp_base_url=ERP)
    assert fresh["overview"]["body"][0]["text"] == "Daily sales brief"
    assert list(fresh) == DAILY_BRIEF_PAGES

    with pytest.raises(ValueError, match=r"^unsupported locale 'fr-FR'; supported: en-US, ko-KR$"):
        card_reads.cards_in_locale("u1", result, "fr-FR", "en-US", erp_base_url=ERP)


def test_card_context_comes_from_the_overview_page():
    result = {"scenario_id": "daily_brief", "pages": make_pages()}
    assert card_reads.card_context("u1", result) == context()

    no_overview = {"scenario_id": "daily_brief", "pages": {"accounts": []}}
    with pytest.raises(ValueError, match="^user u1 scenario daily_brief: stored pages have no overview page$"):
        card_reads.card_context("u1", no_overview)

    pages = copy.deepcopy(make_pages())
    del pages["overview"]["currency"]
    pages["overview"]["as_of"] = ""
    with pytest.raises(
        ValueError, match=r"^user u1 scenario daily_brief: overview page lacks \['currency', 'as_of'\]$"
    ):
        card_reads.card_context("u1", {"scenario_id": "daily_brief", "pages": pages})
    with pytest.raises(ValueError, match="stored pages have no overview page"):
        card_reads.cards_in_locale("u1", {**no_overview, "cards": {}}, "ko-KR", "en-US", erp_base_url=ERP)


def test_jsonable_turns_timestamps_into_iso_text():
    assert card_reads.jsonable({"at": T0, "runs": [{"at": T0, "n": 1}], "x": None}) == {
        "at": "2026-11-26T10:00:00+00:00",
        "runs": [{"at": "2026-11-26T10:00:00+00:00", "n": 1}],
        "x": None,
    }
