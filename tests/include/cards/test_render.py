"""render_cards / render_page_card end to end: real templates, real babel, the official 1.5
schema; the renderer fingerprint; and byte-for-byte determinism across processes."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from include.cards import (
    MAX_CARD_BYTES,
    TEMPLATES_ROOT,
    CardError,
    render_cards,
    render_page_card,
    renderer_fingerprint,
)
from include.config import SUPPORTED_LOCALES
from tests.include.cards.pages import (
    ERP,
    LABELS,
    PAGE_IDS,
    compact,
    context,
    elements_of_type,
    figure,
    issues,
    make_pages,
    orders,
    texts,
)
from tests.support import ROOT

# --- every page, both locales ---


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_page_renders_a_valid_card(locale, official_validator):
    cards = render_cards("daily_brief", make_pages(), locale, erp_base_url=ERP, context=context())

    assert list(cards) == PAGE_IDS
    for page_id, card in cards.items():
        assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
        assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
        errors = [e.message for e in official_validator.iter_errors(card)]
        assert errors == [], f"{page_id}: {errors}"
        assert len(compact(card)) <= MAX_CARD_BYTES


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_card_names_period_and_as_of_and_links_into_the_erp(locale):
    # CLDR puts a narrow no-break space (U+202F) between the en-US time and AM/PM.
    as_of_text = {"en-US": "Nov 26, 2026, 10:00\u202fAM GMT+09:00", "ko-KR": "2026. 11. 26. 오전 10:00 GMT+09:00"}[
        locale
    ]
    cards = render_cards("daily_brief", make_pages(), locale, erp_base_url=ERP, context=context())

    erp_paths = {
        "overview": "brief",
        "accounts": "brief/accounts",
        "product_groups": "brief/product-groups",
        "operations": "orders",
    }
    for page_id, card in cards.items():
        all_text = "\n".join(texts(card))
        assert "2026.11" in all_text, page_id
        assert as_of_text in all_text, page_id
        [action] = [a for a in card["actions"] if a["type"] == "Action.OpenUrl"]
        assert action["url"] == f"https://erp.example.com/app/sales/5503/{erp_paths[page_id]}?period=2026.11"
        assert action["title"] == LABELS[locale]["open_in_erp"]


def test_labels_differ_by_locale_and_cover_the_same_keys():
    assert LABELS["en-US"].keys() == LABELS["ko-KR"].keys()
    pages = make_pages()
    en = render_page_card("daily_brief", "overview", pages["overview"], "en-US", erp_base_url=ERP, context=context())
    ko = render_page_card("daily_brief", "overview", pages["overview"], "ko-KR", erp_base_url=ERP, context=context())

    assert en["body"][0]["text"] == "Daily sales brief"
    assert ko["body"][0]["text"] == "일일 영업 브리핑"
    assert (en["lang"], ko["lang"]) == ("en", "ko")
    assert figure(en, "Target plan") and figure(ko, "목표")


# --- empty states ---


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_empty_lists_show_an_honest_empty_state(locale):
    labels = LABELS[locale]
    pages = make_pages()
    pages["overview"]["top_accounts"] = []
    pages["overview"]["top_product_groups"] = []
    pages["accounts"] = []
    pages["product_groups"] = []
    pages["operations"]["materials"] = []
    cards = render_cards("daily_brief", pages, locale, erp_base_url=ERP, context=context())

    overview = texts(cards["overview"])
    assert labels["empty_accounts"] in overview and labels["empty_product_groups"] in overview
    assert labels["no_figures"] not in overview  # totals and orders are still there
    assert labels["total_est_sales"] in overview  # the totals stay
    assert labels["empty_accounts"] in texts(cards["accounts"])
    assert labels["empty_product_groups"] in texts(cards["product_groups"])
    assert labels["empty_order_materials"] in texts(cards["operations"])


def test_an_account_without_materials_says_so():
    card = render_page_card(
        "daily_brief", "accounts", make_pages()["accounts"], "en-US", erp_base_url=ERP, context=context()
    )

    entries = [c for c in card["body"] if c["type"] == "Container"]
    assert len(entries) == 2
    with_rows, without_rows = (texts(entry) for entry in entries)
    # code on a line of its own, then its figures, then materials: code and gap per line
    # (v1 pages: no page links, so nothing to open)
    assert with_rows[:6] == ["5009095 삼성전자 판매", "Target", "$1.2K", "Est. sales", "$600.00", "Achievement"]
    assert with_rows[-4:] == ["MAT-001 모니터 27인치", "$600.00", "MAT-002", "$0.00"]
    assert "No material of this account has a target plan." in without_rows
    assert "Materials with the largest gap" not in without_rows


def test_ten_row_list_renders_every_row_in_order():
    card = render_page_card(
        "daily_brief", "operations", make_pages()["operations"], "en-US", erp_base_url=ERP, context=context()
    )

    rows = [c for c in elements_of_type(card, "Container") if c.get("separator") and "MAT-" in "".join(texts(c))]
    assert [texts(row)[0] for row in rows] == [f"MAT-{i:03d} 부품" for i in range(10)]
    # each row: the material on its own line, then blocked, open and issues under their headings
    assert texts(rows[2])[1:] == ["$98.00", "$5.50", "2"]  # blocked = 100 - 2


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_a_subscriber_with_no_rows_at_all_gets_valid_cards_that_say_so(locale, official_validator):
    zero_issues = dict.fromkeys(issues(), 0)
    zero_orders = dict.fromkeys(orders(), 0.0)
    pages = {
        "overview": {
            **context(),
            "total_target": 0.0,
            "total_est_sales": 0.0,
            "total_billing": 0.0,
            "total_ach_rate": None,
            "top_accounts": [],
            "top_product_groups": [],
            "issues": zero_issues,
            "orders": zero_orders,
        },
        "accounts": {**context(), "accounts": []},
        "product_groups": {**context(), "product_groups": []},
        "operations": {**context(), "issues": zero_issues, "orders": zero_orders, "materials": []},
    }
    cards = render_cards("daily_brief", pages, locale, erp_base_url=ERP, context=context())

    overview = texts(cards["overview"])
    assert LABELS[locale]["no_figures"] in overview
    # not the misleading "nobody is below target" when there is nothing at all
    assert LABELS[locale]["empty_accounts"] not in overview
    for card in cards.values():
        assert list(official_validator.iter_errors(card)) == []


# --- inputs render_cards / render_page_card refuse ---


def test_unknown_locale_raises():
    with pytest.raises(CardError, match=r"daily_brief/overview \[fr-FR\]: unsupported locale 'fr-FR'"):
        render_cards("daily_brief", make_pages(), "fr-FR", erp_base_url=ERP, context=context())


def test_names_pages_and_reserved_keys_are_checked_before_rendering():
    page = make_pages()["overview"]

    def error(*args, **kwargs) -> str:
        with pytest.raises(CardError) as raised:
            render_page_card(*args, erp_base_url=ERP, context=context(), **kwargs)
        return str(raised.value)

    assert error("daily_brief", "Overview", page, "en-US") == (
        "card daily_brief/Overview [en-US]: page_id 'Overview' is not a lower-case identifier"
    )
    assert error("../daily_brief", "overview", page, "en-US") == (
        "card ../daily_brief/overview [en-US]: scenario_id '../daily_brief' is not a lower-case identifier"
    )
    assert error("daily_brief", "overview", "not a page", "en-US") == (
        "card daily_brief/overview [en-US]: page data must be an object or a list, got str"
    )
    assert error("daily_brief", "overview", {**page, "labels": {}, "has_figures": True}, "en-US") == (
        "card daily_brief/overview [en-US]: page data uses names reserved for the card view: ['labels', 'has_figures']"
    )
    with pytest.raises(CardError, match=r"^daily_brief \[en-US\]: pages must map page ids to page data, got list$"):
        render_cards("daily_brief", [page], "en-US", erp_base_url=ERP, context=context())


# --- fingerprint ---


def test_renderer_fingerprint_follows_the_templates_and_labels(tmp_path):
    real = renderer_fingerprint("daily_brief")
    assert re.fullmatch(r"[0-9a-f]{64}", real)  # a sha256 hex digest
    assert renderer_fingerprint("daily_brief") == real

    # Where the templates lie does not matter; what they say does.
    same = tmp_path / "same"
    shutil.copytree(TEMPLATES_ROOT, same)
    assert renderer_fingerprint("daily_brief", same) == real

    relabelled = tmp_path / "relabelled"
    shutil.copytree(TEMPLATES_ROOT, relabelled)
    labels = relabelled / "daily_brief" / "labels.en-US.json"
    labels.write_text(labels.read_text(encoding="utf-8").replace("Daily sales brief", "Daily brief"), encoding="utf-8")
    assert renderer_fingerprint("daily_brief", relabelled) != real

    # Another scenario's folder has its own fingerprint.
    (same / "other_brief").mkdir()
    assert renderer_fingerprint("other_brief", same) != real


# --- determinism ---

_RENDER_SCRIPT = """
import json, sys
from tests.include.cards.pages import make_pages, context, ERP
from include.cards import render_cards
cards = {loc: render_cards("daily_brief", make_pages(), loc, erp_base_url=ERP, context=context()) for loc in ("en-US", "ko-KR")}
sys.stdout.write(json.dumps(cards, ensure_ascii=False, separators=(",", ":")))
"""


def test_cards_are_deterministic_byte_for_byte():
    pages = make_pages()
    first = {
        loc: render_cards("daily_brief", pages, loc, erp_base_url=ERP, context=context()) for loc in SUPPORTED_LOCALES
    }
    again = {
        loc: render_cards("daily_brief", copy.deepcopy(pages), loc, erp_base_url=ERP, context=context())
        for loc in SUPPORTED_LOCALES
    }
    here = json.dumps(first, ensure_ascii=False, separators=(",", ":"))
    assert here == json.dumps(again, ensure_ascii=False, separators=(",", ":"))
    assert pages == make_pages()  # rendering does not touch its input

    # another process with another hash seed renders the same bytes
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    other = subprocess.run([sys.executable, "-c", _RENDER_SCRIPT], env=env, capture_output=True, check=True).stdout
    assert other.decode("utf-8") == here
