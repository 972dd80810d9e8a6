"""Template files: templates, labels and scenario.json, and what is wrong with a broken one."""

from __future__ import annotations

import json

import pytest

from include.cards import CardError, render_cards
from include.cards.errors import Problem
from include.cards.files import TEMPLATES_ROOT, ListView, load_json_object, scenario_spec
from include.config import SUPPORTED_LOCALES
from tests.include.cards.pages import ERP, PAGE_IDS, context, make_pages


def test_the_real_daily_brief_files():
    formats, erp_paths, optional, lists, page_keys, back = scenario_spec(TEMPLATES_ROOT / "daily_brief")
    # list pages by id, detail pages by kind, their code one segment (docs/contracts/daily-brief.md, ERP links)
    assert list(erp_paths) == [*PAGE_IDS, "account_detail", "product_group_detail", "model_detail"]
    assert erp_paths["product_groups"] == "brief/product-groups"
    assert erp_paths["model_detail"] == "orders/materials/{material}"
    assert (formats["total_target"], formats["ach_rate"], formats["incomplete"], formats["as_of"]) == (
        "amount",
        "rate",
        "count",
        "datetime",
    )
    assert (formats["billing"], formats["growth"], formats["total_yoy"]) == ("amount", "rate", "rate")
    # v2 fields, so that cards of pages made before them still render
    assert set(optional["page"]) == {"display_name", "total_yoy", "account_list", "total_est_sales"}
    assert optional["entries"] == ("page",)
    assert lists == {"account_list": ListView(first=50, per_row=3)}  # "the first 50, then +N more"
    # a page's key and where a model page's Back goes (docs/contracts/daily-brief.md, Navigation)
    assert page_keys == {
        "account_detail": "account",
        "product_group_detail": "product_group",
        "model_detail": "material",
    }
    assert back == {"model_detail": "linked_from"}
    for locale in SUPPORTED_LOCALES:
        assert load_json_object(TEMPLATES_ROOT / "daily_brief" / f"labels.{locale}.json")["not_available"]
    for page_id in PAGE_IDS:
        assert load_json_object(TEMPLATES_ROOT / "daily_brief" / f"{page_id}.json")["type"] == "AdaptiveCard"


def test_missing_template_raises(templates):
    (templates / "daily_brief" / "operations.json").unlink()
    with pytest.raises(CardError, match=r"daily_brief/operations \[ko-KR\]: missing template file .*operations.json"):
        render_cards(
            "daily_brief", make_pages(), "ko-KR", erp_base_url=ERP, context=context(), templates_root=templates
        )


def test_a_file_that_is_not_a_json_object_is_named(tmp_path):
    (tmp_path / "broken.json").write_text('{"type": ', encoding="utf-8")
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(Problem, match=r"broken.json is not valid JSON: Expecting value"):
        load_json_object(tmp_path / "broken.json")
    with pytest.raises(Problem, match=r"list.json must hold a JSON object$"):
        load_json_object(tmp_path / "list.json")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"formats": {"money": ["x"]}, "erp_paths": {}},
            "unknown format kind 'money'; known: amount, rate, count, datetime",
        ),
        (
            {"formats": {"amount": ["x"], "rate": ["x"]}, "erp_paths": {}},
            "field 'x' declared as both amount and rate",
        ),
        ({"formats": {}}, "'erp_paths' must map page ids to ERP paths"),
        (
            {"erp_paths": {}, "optional": {"pages": ["x"]}},
            "'optional' must map page or entries to lists of field names",
        ),
        ({"erp_paths": {}, "optional": {"page": "x"}}, "'optional' must map page or entries to lists of field names"),
        (
            {"erp_paths": {}, "lists": {"xs": {"first": 0, "per_row": 3}}},
            "list 'xs' needs whole numbers above 0 for 'first' and 'per_row'",
        ),
        ({"erp_paths": {}, "lists": {"xs": 50}}, "list 'xs' needs whole numbers above 0 for 'first' and 'per_row'"),
        ({"erp_paths": {}, "page_keys": ["account"]}, "'page_keys' must map page kinds to field names"),
        ({"erp_paths": {}, "back": {"model_detail": 0}}, "'back' must map page kinds to field names"),
    ],
)
def test_a_bad_scenario_json_is_named(tmp_path, spec, expected):
    (tmp_path / "scenario.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(Problem) as raised:
        scenario_spec(tmp_path)
    assert str(raised.value) == f"{tmp_path / 'scenario.json'}: {expected}"
