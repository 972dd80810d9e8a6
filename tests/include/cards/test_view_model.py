"""The view model a template binds against: formatted fields (exact and compact), optional
fields, list views, the ERP link, has_figures and has_figures_in."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from include.cards import CardError, render_page_card
from include.cards.errors import Problem
from include.cards.files import ListView, ScenarioSpec
from include.cards.view_model import erp_url, page_keys, view_model
from tests.include.cards.pages import ERP, context, make_pages, texts, write_template

SPEC = ScenarioSpec(
    {"target": "amount", "ach_rate": "rate", "n": "count"},
    {"overview": "brief", "accounts": "brief/accounts", "model_detail": "orders/materials/{material}"},
    {"page": ("display_name",), "entries": ("page",)},
    {"codes": ListView(first=5, per_row=2)},
    {"account_detail": "account", "model_detail": "material"},
    {"model_detail": "linked_from"},
)


def test_declared_fields_become_raw_and_text_and_the_rest_stays_as_is():
    page = {
        **context(),
        "target": 1500.5,
        "ach_rate": None,
        "rows": [{"name": "A", "target": 2.0, "n": 3}],
        "note": "as is",
    }
    view = view_model(page, "overview", SPEC, {"not_available": "n/a"}, "en-US", ERP)

    # an amount also has its compact text for narrow places; rates and counts are short already
    assert view["target"] == {"raw": 1500.5, "text": "$1,500.50", "compact": "$1.5K"}
    assert view["ach_rate"] == {"raw": None, "text": "n/a"}
    assert view["rows"] == [
        {
            "name": "A",
            "target": {"raw": 2.0, "text": "$2.00", "compact": "$2.00"},
            "n": {"raw": 3, "text": "3"},
            "page": None,
        }
    ]
    assert view["note"] == "as is" and view["sales_org_cd"] == "5503"
    assert view["erp_url"] == "https://erp.example.com/app/sales/5503/brief?period=2026.11"
    assert view["has_figures"] is True
    assert view["has_figures_in"] == {
        "sales_org_cd": False,
        "currency": False,
        "period": False,
        "as_of": False,
        "target": True,
        "ach_rate": False,
        "rows": True,
        "note": False,
    }
    assert view["display_name"] is None  # optional, absent from the page
    assert page["target"] == 1500.5 and "page" not in page["rows"][0]  # the page data itself is not touched


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

    paths = SPEC.erp_paths
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


def test_optional_fields_are_null_when_absent_and_kept_when_present():
    spec = SPEC._replace(optional={"page": ("display_name", "total_yoy"), "entries": ("page",)})
    page = {**context(), "display_name": "김민준", "rows": [{"name": "A", "page": "detail_1"}, {"name": "B"}]}
    view = view_model(page, "overview", spec, {}, "ko-KR", ERP)

    assert (view["display_name"], view["total_yoy"]) == ("김민준", None)
    assert [row["page"] for row in view["rows"]] == ["detail_1", None]


def test_a_v1_page_renders_without_the_v2_fields_and_a_v2_page_shows_them():
    v1 = make_pages()["overview"]  # no display_name, total_yoy, account_list, page links
    card = render_page_card("daily_brief", "overview", v1, "en-US", erp_base_url=ERP, context=context())
    assert not any(t.startswith("Hello") for t in texts(card))
    assert "Your accounts" not in texts(card)

    v2 = {**v1, "display_name": "Dana Kim", "total_yoy": -20.0, "account_list": [{"account": "A1", "page": None}]}
    card = render_page_card("daily_brief", "overview", v2, "en-US", erp_base_url=ERP, context=context())
    assert "Hello, Dana Kim" in texts(card)
    assert {"Billing YoY", "-20.0%", "Your accounts", "A1"} <= set(texts(card))


def test_a_list_view_shows_the_first_entries_a_few_a_row_and_counts_the_rest():
    codes = [{"code": f"C{i}"} for i in range(8)]
    view = view_model({**context(), "codes": codes}, "overview", SPEC, {}, "en-US", ERP)

    rows = view["codes_rows"]
    assert [[e["code"] for e in row["entries"]] for row in rows] == [["C0", "C1"], ["C2", "C3"], ["C4"]]
    assert [len(row["fill"]) for row in rows] == [0, 0, 1]  # the last row keeps the others' columns
    assert view["codes_more"] == {"raw": 3, "text": "3"}
    assert len(view["codes"]) == 8  # the list itself stays whole

    short = view_model({**context(), "codes": codes[:4]}, "overview", SPEC, {}, "en-US", ERP)
    assert len(short["codes_rows"]) == 2 and short["codes_more"] is None
    absent = view_model({**context(), "codes": None}, "overview", SPEC, {}, "en-US", ERP)
    assert (absent["codes_rows"], absent["codes_more"]) == ([], None)


def test_a_list_view_never_overwrites_page_data():
    with pytest.raises(Problem, match=r"^field codes_more clashes with the view of list 'codes'$"):
        view_model({**context(), "codes": [], "codes_more": 1}, "overview", SPEC, {}, "en-US", ERP)
    with pytest.raises(Problem, match=r"^field codes must be a list or null, got 'C1'$"):
        view_model({**context(), "codes": "C1"}, "overview", SPEC, {}, "en-US", ERP)


def test_has_figures_in_tells_each_field_apart_and_code_lists_are_no_figures():
    zero_orders = {"billed": 0.0, "open": 0.0}
    spec = SPEC._replace(formats={"billed": "amount", "open": "amount", "incomplete": "count"})
    page = {
        **context(),
        "orders": zero_orders,
        "issues": {"incomplete": 2},
        "account_list": [{"account": "A1", "page": None}],  # codes only: not a figure
    }
    view = view_model(page, "overview", spec, {}, "en-US", ERP)

    assert view["has_figures_in"]["orders"] is False and view["has_figures_in"]["issues"] is True
    assert view["has_figures_in"]["account_list"] is False
    assert view["has_figures"] is True
    page["issues"] = {"incomplete": 0}
    assert view_model(page, "overview", spec, {}, "en-US", ERP)["has_figures"] is False


def test_detail_pages_link_into_the_erp_by_kind_with_their_code_as_one_segment():
    page = context(material="WF45B6300AP/US")
    assert erp_url(ERP, SPEC.erp_paths, "model_detail_12", page) == (
        "https://erp.example.com/app/sales/5503/orders/materials/WF45B6300AP%2FUS?period=2026.11"
    )
    with pytest.raises(Problem, match=r"^page field 'material' must be a non-empty string for the ERP link, got None$"):
        erp_url(ERP, SPEC.erp_paths, "model_detail_1", context())
    with pytest.raises(Problem, match=r"^scenario.json has no ERP path for page 'account_detail_1'$"):
        erp_url(ERP, SPEC.erp_paths, "account_detail_1", context())


def test_page_keys_are_the_codes_detail_pages_are_about():
    pages = {
        "overview": {"account_list": []},
        "account_detail_1": {"account": "5009095"},
        "model_detail_3": {"material": "WF45B6300AP/US"},
        "product_group_detail_1": {"product_group": "TV"},  # no page_keys rule in SPEC
    }
    assert page_keys(SPEC, pages) == {"account_detail_1": "5009095", "model_detail_3": "WF45B6300AP/US"}


def test_a_model_pages_back_opens_the_first_page_linking_it_with_that_pages_key():
    page = {**context(), "material": "M1", "linked_from": ["account_detail_2", "product_group_detail_1"]}
    keys = {"account_detail_2": "5009095"}
    view = view_model(page, "model_detail_4", SPEC, {}, "en-US", ERP, keys)
    assert view["back"] == [{"page_id": "account_detail_2", "key": "5009095"}]
    # without the pages' keys the target stays right, its key unknown
    assert view_model(page, "model_detail_4", SPEC, {}, "en-US", ERP)["back"] == [
        {"page_id": "account_detail_2", "key": None}
    ]
    assert view_model({**page, "linked_from": []}, "model_detail_4", SPEC, {}, "en-US", ERP)["back"] == []
    assert "back" not in view_model(context(), "overview", SPEC, {}, "en-US", ERP)  # no rule for its kind
    with pytest.raises(Problem, match=r"^field linked_from must be a list of page ids for the Back action"):
        view_model({**page, "linked_from": "account_detail_2"}, "model_detail_4", SPEC, {}, "en-US", ERP)
