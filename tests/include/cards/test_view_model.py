"""The view model a template binds against: formatted fields, the ERP link, has_figures."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from include.cards import CardError, render_page_card
from include.cards.errors import Problem
from include.cards.view_model import erp_url, view_model
from tests.include.cards.pages import ERP, context, make_pages, texts, write_template

SPEC = ({"target": "amount", "ach_rate": "rate", "n": "count"}, {"overview": "brief", "accounts": "brief/accounts"})


def test_declared_fields_become_raw_and_text_and_the_rest_stays_as_is():
    page = {
        **context(),
        "target": 1500.5,
        "ach_rate": None,
        "rows": [{"name": "A", "target": 2.0, "n": 3}],
        "note": "as is",
    }
    view = view_model(page, "overview", SPEC, {"not_available": "n/a"}, "en-US", ERP)

    assert view["target"] == {"raw": 1500.5, "text": "$1,500.50"}
    assert view["ach_rate"] == {"raw": None, "text": "n/a"}
    assert view["rows"] == [{"name": "A", "target": {"raw": 2.0, "text": "$2.00"}, "n": {"raw": 3, "text": "3"}}]
    assert view["note"] == "as is" and view["sales_org_cd"] == "5503"
    assert view["erp_url"] == "https://erp.example.com/app/sales/5503/brief?period=2026.11"
    assert view["has_figures"] is True
    assert page["target"] == 1500.5  # the page data itself is not touched


def test_erp_url_components_are_url_encoded():
    page = make_pages(sales_org_cd="55 03/서울", period="2026.11&x=1")["overview"]
    card = render_page_card(
        "daily_brief", "overview", page, "en-US", erp_base_url="https://erp.example.com", context=context()
    )

    org = quote("55 03/서울", safe="")
    assert org == "55%2003%2F%EC%84%9C%EC%9A%B8"
    assert card["actions"][0]["url"] == f"https://erp.example.com/sales/{org}/brief?period=2026.11%26x%3D1"


def test_bad_erp_base_url_raises():
    with pytest.raises(CardError, match="erp_base_url 'erp.example.com' must be an http"):
        render_page_card(
            "daily_brief",
            "overview",
            make_pages()["overview"],
            "en-US",
            erp_base_url="erp.example.com",
            context=context(),
        )


def test_erp_link_needs_org_and_period_and_a_path_for_the_page():
    page = make_pages()["overview"]
    page.update(sales_org_cd=None)
    with pytest.raises(CardError, match=r"page field 'sales_org_cd' must be a non-empty string"):
        render_page_card("daily_brief", "overview", page, "en-US", erp_base_url=ERP, context=context())

    paths = SPEC[1]
    with pytest.raises(Problem, match=r"^page field 'period' must be a non-empty string for the ERP link, got ''$"):
        erp_url(ERP, paths, "overview", context(period=""))
    with pytest.raises(Problem, match=r"^scenario.json has no ERP path for page 'operations'$"):
        erp_url(ERP, paths, "operations", context())
    with pytest.raises(Problem, match=r"must be an http\(s\) URL without query or fragment"):
        erp_url("https://erp.example.com/?tenant=1", paths, "overview", context())
    assert erp_url("https://erp.example.com/", paths, "accounts", context()) == (
        "https://erp.example.com/sales/5503/brief/accounts?period=2026.11"
    )


def test_has_figures_counts_non_zero_numbers_and_list_rows(templates):
    write_template(
        templates,
        "overview",
        [
            {"$when": "${has_figures}", "type": "TextBlock", "text": "figures"},
            {"$when": "${not(has_figures)}", "type": "TextBlock", "text": "nothing"},
        ],
    )

    def shown(**fields) -> list[str]:
        card = render_page_card(
            "daily_brief",
            "overview",
            {**context(), **fields},
            "en-US",
            erp_base_url=ERP,
            context=context(),
            templates_root=templates,
        )
        return texts(card)

    assert shown(total_target=0.0, total_ach_rate=None, top_accounts=[], issues={"incomplete": 0}) == ["nothing"]
    assert shown(total_target=0.0, top_accounts=[{"account": "A", "target": 0.0}]) == ["figures"]
    assert shown(total_target=0.0, issues={"incomplete": 1}) == ["figures"]
