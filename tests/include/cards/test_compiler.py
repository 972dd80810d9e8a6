"""The templating language: whole-string and embedded bindings, $data, $when, empty / not /
exists, labels resolved at compile time, and errors that name the binding and its place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from include.cards import CardError, render_page_card
from include.cards.compiler import compiled_template
from include.cards.errors import Problem
from tests.include.cards.pages import ERP, context, make_pages, write_template

LABELS = {"title": "Accounts", "none": "No accounts"}


def compile_template(tmp_path: Path, template: dict, name: str = "page") -> object:
    """A template (and an en-US labels file) written to tmp_path, compiled for en-US."""
    (tmp_path / "labels.en-US.json").write_text(json.dumps(LABELS), encoding="utf-8")
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(template), encoding="utf-8")
    return compiled_template(path, "en-US")


def bind(function, view: dict):
    return function(view, view)


def test_bindings_data_and_when(tmp_path):
    template = {
        "title": "${labels.title}",
        "count": "${n}",
        "line": "Org ${org} in ${labels.title}",
        "rows": [
            {"type": "Header"},
            {"$data": "${accounts}", "name": "${name}", "top": "${$root.org}", "label": "${$root.labels.title}"},
            {"$when": "${empty(accounts)}", "text": "${labels.none}"},
            {"$data": "${accounts}", "$when": "${not(hidden)}", "kept": "${name}"},
            {"$when": "${exists(extra)}", "extra": "${extra}"},
        ],
    }
    function = compile_template(tmp_path, template)
    view = {
        "org": "5503",
        "n": 2,
        "extra": None,
        "accounts": [{"name": "A", "hidden": False}, {"name": "B", "hidden": True}],
    }

    assert bind(function, view) == {
        "title": "Accounts",
        "count": 2,  # a whole-string binding keeps the value's type
        "line": "Org 5503 in Accounts",
        "rows": [
            {"type": "Header"},
            {"name": "A", "top": "5503", "label": "Accounts"},
            {"name": "B", "top": "5503", "label": "Accounts"},
            {"kept": "A"},
        ],
    }
    empty = bind(function, {**view, "accounts": [], "extra": "x"})
    assert empty["rows"] == [{"type": "Header"}, {"text": "No accounts"}, {"extra": "x"}]
    # $data over an object repeats the item once, with the object as its scope
    assert bind(compile_template(tmp_path, {"a": [{"$data": "${one}", "v": "${v}"}]}, "obj"), {"one": {"v": "x"}}) == {
        "a": [{"v": "x"}]
    }


def test_a_template_without_bindings_is_built_once(tmp_path):
    function = compile_template(tmp_path, {"type": "AdaptiveCard", "body": [{"text": "${labels.title}"}]})
    first, second = bind(function, {}), bind(function, {"anything": 1})
    assert first == {"type": "AdaptiveCard", "body": [{"text": "Accounts"}]}
    assert first is second  # labels are known at compile time: nothing is left to bind


@pytest.mark.parametrize(
    ("template", "view", "expected"),
    [
        ({"a": {"$when": "${x}"}}, {}, "template /a: $data/$when are only allowed on array items"),
        ({"a": ["${x + 1}"]}, {"x": 1}, "template /a/0: ${x + 1} is an unsupported expression"),
        ({"a": [{"$when": "${x}", "b": 1}]}, {"x": "yes"}, "template /a/0/$when: ${x} is 'yes', not true or false"),
        ({"a": [{"$data": "${x}", "b": 1}]}, {"x": 3}, "template /a/0/$data: ${x} is 3, not a list or an object"),
        ({"a": [{"$data": "rows", "b": 1}]}, {}, "template /a/0/$data: expected a single ${...} binding, got 'rows'"),
        ({"a": "${not(x)}"}, {"x": None}, "template /a: ${not(x)} not() needs true or false, got None"),
        ({"a": "n = ${x}"}, {"x": 5}, "template /a: ${x} is 5, not text; bind a formatted '.text' or a label"),
        ({"a": "${x.y}"}, {"x": {}}, "template /a: ${x.y} does not resolve: no 'y' in the data"),
    ],
)
def test_template_errors_name_the_place_and_the_binding(tmp_path, template, view, expected):
    with pytest.raises(Problem) as raised:
        bind(compile_template(tmp_path, template), view)
    assert str(raised.value).startswith(expected), str(raised.value)


def test_unresolved_binding_raises_naming_the_binding_and_place(templates):
    write_template(templates, "overview", [{"type": "TextBlock", "text": "${labels.no_such_label}"}])
    with pytest.raises(CardError) as raised:
        render_page_card(
            "daily_brief",
            "overview",
            make_pages()["overview"],
            "en-US",
            erp_base_url=ERP,
            context=context(),
            templates_root=templates,
        )
    assert str(raised.value) == (
        "card daily_brief/overview [en-US]: template /body/0/text: "
        "${labels.no_such_label} does not resolve: no 'no_such_label' in the data"
    )


def test_page_missing_a_field_the_template_needs_raises():
    page = make_pages()["overview"]
    del page["total_billing"]
    with pytest.raises(CardError, match=r"\$\{total_billing.compact\} does not resolve: no 'total_billing'"):
        render_page_card("daily_brief", "overview", page, "en-US", erp_base_url=ERP, context=context())


def test_a_raw_number_is_never_shown_unformatted(templates):
    write_template(templates, "overview", [{"type": "TextBlock", "text": "Total ${total_target.raw}"}])
    with pytest.raises(CardError, match=r"\$\{total_target.raw\} is 1234566.5, not text"):
        render_page_card(
            "daily_brief",
            "overview",
            make_pages()["overview"],
            "en-US",
            erp_base_url=ERP,
            context=context(),
            templates_root=templates,
        )
