"""Navigation on the cards (docs/contracts/daily-brief.md, Part 2, "Navigation"): every list
entry with a page opens it, the overview opens the list pages, every page but the overview has
a Back action, and each click resolves — by the bot's own rule (include/card_actions.py) — to
exactly the page it names. Checked on the worst-case pages of every kind, in both locales."""

from __future__ import annotations

from collections import Counter
from urllib.parse import quote

import pytest

from include.card_actions import KEY_FIELDS, VERB, page_kind, resolve_page
from include.cards import render_cards
from include.config import SUPPORTED_LOCALES
from tests.include.cards.pages import ERP, LABELS, context, elements_of_type, make_pages, worst_case_pages

SCENARIO = "daily_brief"
LIST_PAGES = ("accounts", "product_groups", "operations")


@pytest.fixture(scope="module")
def pages() -> dict:
    return worst_case_pages()


@pytest.fixture(scope="module", params=SUPPORTED_LOCALES)
def cards(request, pages) -> tuple[str, dict]:
    return request.param, render_cards(SCENARIO, pages, request.param, erp_base_url=ERP, context=context())


def executes(card: dict) -> list[dict]:
    return elements_of_type(card, "Action.Execute")


def entry_links(page) -> Counter:
    """(page, key) of every entry below the page's top level that has a non-null page; the key
    is the entry's code of what the page is about (a material entry also names its group)."""
    found: Counter = Counter()

    def walk(node, top: bool) -> None:
        if isinstance(node, dict):
            if not top and node.get("page") is not None:
                found[(node["page"], node[KEY_FIELDS[page_kind(node["page"])]])] += 1
            for value in node.values():
                walk(value, False)
        elif isinstance(node, list):
            for value in node:
                walk(value, False)

    walk(page, True)
    return found


def back_of(page_id: str, pages: dict) -> tuple[str, str | None]:
    if page_id in LIST_PAGES:
        return "overview", None
    if page_id.startswith("account_detail_"):
        return "accounts", None
    if page_id.startswith("product_group_detail_"):
        return "product_groups", None
    target = pages[page_id]["linked_from"][0]
    key_field = "account" if target.startswith("account_detail_") else "product_group"
    return target, pages[target][key_field]


def test_every_action_execute_is_an_open_page_with_ids_only(cards):
    _locale, rendered = cards
    for page_id, card in rendered.items():
        for action in executes(card):
            assert action["verb"] == VERB, page_id
            data = action["data"]
            assert data["scenario_id"] == SCENARIO and isinstance(data["page_id"], str), (page_id, data)
            assert set(data) <= {"scenario_id", "page_id", "key"}, (page_id, data)  # ids, never figures


def test_every_entry_with_a_page_opens_it_and_the_overview_opens_the_list_pages(cards, pages):
    _locale, rendered = cards
    for page_id, card in rendered.items():
        links = Counter(
            (a["data"]["page_id"], a["data"].get("key")) for a in executes(card) if "title" not in a
        )  # selectActions: the entries' and the overview's section headings (Back is a titled action)
        page = pages[page_id]
        if page_id == "overview":  # the card shows the first 50 accounts of the list, then "+N more"
            page = {**page, "account_list": page["account_list"][:50]}
        expected = entry_links(page)
        if page_id == "overview":
            # accounts, product groups, and operations from both orders and issues
            expected.update({("accounts", None): 1, ("product_groups", None): 1, ("operations", None): 2})
        assert links == expected, page_id
    # Two of the five linked accounts sort after the first 50 of the 57 listed: the overview
    # links them from the top accounts only.
    overview_links = Counter((a["data"]["page_id"], a["data"].get("key")) for a in executes(rendered["overview"]))
    assert overview_links[("account_detail_1", "0050091234")] == 2
    assert overview_links[("account_detail_2", "계정-0001")] == 1


def test_every_page_but_the_overview_has_its_back_action(cards, pages):
    locale, rendered = cards
    assert [a for a in rendered["overview"]["actions"] if a["type"] == "Action.Execute"] == []
    for page_id, card in rendered.items():
        if page_id == "overview":
            continue
        [back] = [a for a in card["actions"] if a["type"] == "Action.Execute"]
        assert back["title"] == LABELS[locale]["back"]
        target, key = back_of(page_id, pages)
        assert back["data"]["page_id"] == target, page_id
        if key is None:
            assert "key" not in back["data"], page_id  # list pages have no key


def test_a_model_pages_back_carries_the_key_of_the_page_it_opens(cards, pages):
    _locale, rendered = cards
    for page_id, card in rendered.items():
        if page_kind(page_id) != "model_detail":
            continue
        [back] = [a for a in card["actions"] if a["type"] == "Action.Execute"]
        target, key = back_of(page_id, pages)
        assert back["data"] == {"scenario_id": SCENARIO, "page_id": target, "key": key}, page_id
        assert resolve_page(pages, target, key).page_id == target


def test_every_click_opens_exactly_the_page_it_names(cards, pages):
    """What the bot answers (include/card_actions.py): the named page, never a fallback.
    (A model page's Back: test_a_model_pages_back_carries_the_key_of_the_page_it_opens.)"""
    _locale, rendered = cards
    clicks = {
        (a["data"]["page_id"], a["data"].get("key"))
        for page_id, card in rendered.items()
        for a in executes(card)
        if not (page_kind(page_id) == "model_detail" and "title" in a)
    }
    kinds = {page_kind(page_id) for page_id, _key in clicks}
    assert kinds == {"overview", *LIST_PAGES, "account_detail", "product_group_detail", "model_detail"}
    for page_id, key in clicks:
        assert resolve_page(pages, page_id, key).page_id == page_id, (page_id, key)


def test_every_card_links_into_the_erp_with_its_code_as_one_segment(cards, pages):
    _locale, rendered = cards
    base = "https://erp.example.com/app/sales/5503"
    paths = {
        "account_detail_2": f"brief/accounts/{quote(pages['account_detail_2']['account'], safe='')}",
        "product_group_detail_1": "brief/product-groups/Built-In%20Refrigerator%20Premium",
        "model_detail_1": "orders/materials/WF45B6300AP%2FUS",
        "operations": "orders",
    }
    for page_id, card in rendered.items():
        [erp] = [a for a in card["actions"] if a["type"] == "Action.OpenUrl"]
        assert erp["url"].startswith(f"{base}/") and erp["url"].endswith("?period=2026.11"), page_id
        if page_id in paths:
            assert erp["url"] == f"{base}/{paths[page_id]}?period=2026.11"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_v1_pages_have_no_entry_links_only_the_page_links(locale):
    cards = render_cards(SCENARIO, make_pages(), locale, erp_base_url=ERP, context=context())
    assert Counter(a["data"]["page_id"] for a in executes(cards["overview"])) == {
        "accounts": 1,
        "product_groups": 1,
        "operations": 2,
    }
    for page_id in LIST_PAGES:
        assert [a["data"] for a in executes(cards[page_id])] == [{"scenario_id": SCENARIO, "page_id": "overview"}]
