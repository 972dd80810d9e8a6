"""The terminal rendering of Adaptive Cards (include/ops/card_text.py): each element as it
reads, actions as where they go, every text literal (no rich markup, no emoji codes, no
terminal control characters), and a card the pipeline renders shows every text it holds."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from include.cards import render_cards
from include.config import SUPPORTED_LOCALES
from include.ops.card_text import action_target, plain, render_card


def show(card: dict, width: int = 120, **kwargs) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, markup=False, emoji=False, highlight=False)
    console.print(render_card(card, **kwargs))
    return out.getvalue()


def lines(card: dict, **kwargs) -> list[str]:
    """The card's lines without the box: its inside, right-trimmed."""
    return [line[2:-1].rstrip() for line in show(card, **kwargs).splitlines()[1:-1]]


def card(*body: dict, actions: list | None = None) -> dict:
    return {"type": "AdaptiveCard", "version": "1.5", "body": list(body), "actions": actions or []}


def text(value: str, **props) -> dict:
    return {"type": "TextBlock", "text": value, **props}


def open_page(page_id: str, key: str | None = None, title: str | None = None) -> dict:
    data = {"scenario_id": "daily_brief", "page_id": page_id} | ({"key": key} if key is not None else {})
    return {"type": "Action.Execute", "verb": "open_page", "data": data} | ({"title": title} if title else {})


def test_text_facts_and_the_title_on_the_box():
    rendered = show(
        card(
            text("Daily sales brief", size="Large", weight="Bolder"),
            text("as of 10:00", isSubtle=True),
            {
                "type": "FactSet",
                "facts": [{"title": "Target plan", "value": "$1,200.00"}, {"title": "Ach.", "value": "n/a"}],
            },
        ),
        title="daily_brief / overview",
    )
    first, *inside = rendered.splitlines()
    assert first.startswith("╭─ daily_brief / overview ─")
    assert [line[2:-1].rstrip() for line in inside[:-1]] == [
        "Daily sales brief",
        "as of 10:00",
        "Target plan  $1,200.00",
        "Ach.         n/a",
    ]


def test_a_table_with_its_header_row_and_column_alignment():
    def row(*cells):
        return {"type": "TableRow", "cells": [{"type": "TableCell", "items": [text(c)]} for c in cells]}

    table = {
        "type": "Table",
        "columns": [{"width": 3}, {"width": 1, "horizontalCellContentAlignment": "Right"}],
        "rows": [row("Account", "Target"), row("5009095", "$1,200.00"), row("A1", "$5.00")],
    }
    assert lines(card(table)) == [
        "Account      Target",
        "───────────────────",
        "5009095   $1,200.00",
        "A1            $5.00",
    ]
    assert lines(card({**table, "firstRowAsHeader": False})) == [
        "Account      Target",
        "5009095   $1,200.00",
        "A1            $5.00",
    ]


def test_columns_side_by_side_and_list_rows_lined_up_with_their_links():
    def entry(account: str, amount: str, page: str) -> dict:
        columns = [
            {"type": "Column", "items": [text(account)]},
            {"type": "Column", "items": [text(amount, horizontalAlignment="Right")]},
        ]
        return {
            "type": "Container",
            "selectAction": open_page(page, account),
            "items": [{"type": "ColumnSet", "columns": columns}],
        }

    stacked = {
        "type": "ColumnSet",
        "columns": [
            {"type": "Column", "items": [text("Target", isSubtle=True), text("$9.00")]},
            {"type": "Column", "items": [text("Est. sales", isSubtle=True), text("$1.00")]},
        ],
    }
    assert lines(card(stacked)) == ["Target  Est. sales", "$9.00   $1.00"]
    assert lines(card(entry("A1", "$5.00", "account_detail_1"), entry("A100/KR", "$1,200.00", "account_detail_2"))) == [
        "A1           $5.00  → account_detail_1 (A1)",
        "A100/KR  $1,200.00  → account_detail_2 (A100/KR)",
    ]


def test_containers_nest_and_a_clickable_element_says_where_it_goes():
    body = {
        "type": "Container",
        "selectAction": open_page("operations", title="Orders"),
        "items": [text("Orders"), {"type": "Container", "items": [text("Billed $1.00")]}],
    }
    assert lines(card(body)) == ["Orders", "Billed $1.00", "→ [Orders] operations"]


def test_actions_are_listed_with_their_targets():
    actions = [
        {**open_page("accounts"), "title": "Back"},
        {**open_page("model_detail_3", "WF45B6300AP/US"), "title": "WF45B6300AP/US"},
        {
            "type": "Action.OpenUrl",
            "title": "Open in ERP",
            "url": "https://erp.example.com/orders/materials/WF45B6300AP%2FUS",
        },
        {"type": "Action.Submit", "title": "Send", "data": {"x": 1}},
        {"type": "Action.ToggleVisibility", "title": "More"},
        {"type": "Action.ShowCard", "title": "Details", "card": card(text("inside the shown card"))},
    ]
    assert lines(card(text("Account A1"), actions=actions)) == [
        "Account A1",
        "─" * 116,
        "[Back] → accounts",
        "[WF45B6300AP/US] → model_detail_3 (WF45B6300AP/US)",
        "[Open in ERP] → https://erp.example.com/orders/materials/WF45B6300AP%2FUS",
        '[Send] → submit {"x": 1}',
        "[More] → toggle visibility",
        "[Details] ▾",
        "  inside the shown card",
    ]
    assert action_target({"type": "Action.Execute", "verb": "refresh", "data": {}}).plain == "execute refresh {}"
    in_body = lines(card({"type": "ActionSet", "actions": [actions[0]]}))
    assert in_body == ["[Back] → accounts"]


def test_hidden_unknown_and_separated_elements():
    body = [
        text("shown"),
        text("hidden", isVisible=False),
        {"type": "NoSuchElement"},
        {"type": "Carousel", "fallback": text("the fallback")},
        {"type": "Carousel", "fallback": "drop"},
        text("after a separator", separator=True),
        {"type": "Image", "url": "https://x/y.png", "altText": "logo"},
        {"type": "RichTextBlock", "inlines": ["plain ", {"type": "TextRun", "text": "bold", "weight": "Bolder"}]},
    ]
    assert lines(card(*body), width=40) == [
        "shown",
        "[unknown element NoSuchElement]",
        "the fallback",
        "─" * 36,
        "after a separator",
        "[image: logo]",
        "plain bold",
    ]
    assert lines(card()) == ["(empty card)"]


def test_text_from_the_card_store_is_printed_literally():
    """A code from T2A or a name from the card store is never rich markup, an emoji code or a
    terminal escape sequence."""
    hostile = "[red]x[/red] [link=https://evil]y[/link] :smile: \x1b[2J\x1b]0;title\x07 end"
    rendered = lines(
        card(
            text(hostile),
            {"type": "FactSet", "facts": [{"title": "[b]t[/b]", "value": ":fire:"}]},
            actions=[{**open_page("account_detail_1", "[blink]A1[/blink]"), "title": "[bold]Back"}],
        ),
        title="[red]title[/red]",
        width=200,
    )
    assert rendered[0] == "[red]x[/red] [link=https://evil]y[/link] :smile: \\x1b[2J\\x1b]0;title\\x07 end"
    assert rendered[1] == "[b]t[/b]  :fire:"
    assert rendered[-1] == "[[bold]Back] → account_detail_1 ([blink]A1[/blink])"
    assert "[red]title[/red]" in show(card(), title="[red]title[/red]")
    assert plain("tab\tand\nnewline\r\x9b").plain == "tab\tand\nnewline\\x0d\\x9b"
    assert plain(None).plain == "" and plain(42).plain == "42"


def _texts(node) -> list[str]:
    """Every TextBlock text and fact of a card, as the renderer must show them."""
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    if not isinstance(node, dict) or node.get("isVisible") is False:
        return []
    found = [node["text"]] if node.get("type") == "TextBlock" else []
    found += [part for fact in node.get("facts") or [] for part in (fact["title"], fact["value"])]
    return found + [t for key, value in node.items() if key not in ("facts", "fallback") for t in _texts(value)]


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_a_card_the_pipeline_renders_shows_every_text_and_action_it_holds(locale):
    from tests.include.cards.pages import context, make_pages

    pages = make_pages()
    cards = render_cards("daily_brief", pages, locale, erp_base_url="https://erp.example.com", context=context())
    for page_id, rendered_card in cards.items():
        output = show(rendered_card, width=240, title=f"daily_brief / {page_id}")
        flat = re.sub(r"\s+", " ", output)
        for value in _texts(rendered_card["body"]):
            assert re.sub(r"\s+", " ", value) in flat, (locale, page_id, value)
        for action in rendered_card.get("actions", []):
            assert f"[{action['title']}] → {action_target(action).plain}" in output, (locale, page_id, action)
