"""Every card is checked before it is stored: the official 1.5 schema (formats included), the
type and version the schema leaves out, and the size limit."""

from __future__ import annotations

import json

import pytest

from include.cards import MAX_CARD_BYTES, CardError, render_page_card
from include.cards.errors import Problem
from include.cards.validation import validate_card
from tests.include.cards.pages import ERP, context, make_pages, write_template


def test_oversized_card_raises_naming_the_size():
    long_name = "아주 긴 거래처 이름 " * 40
    page = [
        {
            "account": f"{i} {long_name}",
            "target": 1.0,
            "est_sales": 0.5,
            "ach_rate": 50.0,
            "materials": [
                {
                    "material": f"M{j} {long_name}",
                    "product_group": long_name,
                    "target": 1.0,
                    "est_sales": 0.5,
                    "gap": 0.5,
                }
                for j in range(5)
            ],
        }
        for i in range(5)
    ]
    with pytest.raises(CardError) as raised:
        render_page_card("daily_brief", "accounts", page, "ko-KR", erp_base_url=ERP, context=context())
    message = str(raised.value)
    assert "daily_brief/accounts [ko-KR]" in message
    assert f"over the {MAX_CARD_BYTES}-byte limit" in message
    size = int(message.split("card is ")[1].split(" bytes")[0])
    assert size > MAX_CARD_BYTES


def test_the_size_limit_counts_compact_utf8_bytes_up_to_the_last_one():
    def card(text: str) -> dict:
        return {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": text}]}

    overhead = len(json.dumps(card(""), separators=(",", ":")).encode("utf-8"))
    validate_card(card("x" * (MAX_CARD_BYTES - overhead)))  # exactly at the limit: fine
    with pytest.raises(Problem, match=rf"^card is {MAX_CARD_BYTES + 1} bytes serialized, over the"):
        validate_card(card("x" * (MAX_CARD_BYTES - overhead + 1)))
    # "가" is three bytes in UTF-8: the limit is on bytes, not characters
    with pytest.raises(Problem, match=rf"^card is {MAX_CARD_BYTES + 2} bytes serialized"):
        validate_card(card("가" + "x" * (MAX_CARD_BYTES - overhead - 1)))


def test_template_producing_an_invalid_element_raises_with_the_schema_message(templates):
    write_template(templates, "overview", [{"type": "TextBlock", "text": "${labels.title_overview}", "colour": "red"}])
    write_template(templates, "accounts", [{"type": "TextBlock", "wrap": True}])
    write_template(templates, "operations", [{"type": "Sparkline", "text": "${period}"}])
    pages = make_pages()

    def error(page_id: str) -> str:
        with pytest.raises(CardError) as raised:
            render_page_card(
                "daily_brief",
                page_id,
                pages[page_id],
                "en-US",
                erp_base_url=ERP,
                context=context(),
                templates_root=templates,
            )
        return str(raised.value)

    assert error("overview") == (
        "card daily_brief/overview [en-US]: schema 1.5 violation at /body/0: "
        "Additional properties are not allowed ('colour' was unexpected)"
    )
    assert (
        error("accounts")
        == 'card daily_brief/accounts [en-US]: schema 1.5 violation at /body/0: "text" is a required property'
    )
    assert (
        error("operations")
        == "card daily_brief/operations [en-US]: schema 1.5 violation at /body/0: unknown element type 'Sparkline'"
    )
    # the real templates next to them are untouched by the override
    assert render_page_card("daily_brief", "overview", pages["overview"], "en-US", erp_base_url=ERP, context=context())


def test_schema_gaps_are_closed(templates):
    """The schema accepts a card without type/version and does not check url formats by itself."""
    page = make_pages()["overview"]
    write_template(templates, "overview", [{"type": "TextBlock", "text": "x"}])
    template = json.loads((templates / "daily_brief" / "overview.json").read_text())
    del template["version"]
    (templates / "daily_brief" / "overview.json").write_text(json.dumps(template))
    with pytest.raises(CardError, match="type 'AdaptiveCard' and version '1.5'"):
        render_page_card(
            "daily_brief", "overview", page, "en-US", erp_base_url=ERP, context=context(), templates_root=templates
        )

    write_template(
        templates,
        "accounts",
        [{"type": "TextBlock", "text": "x"}],
        actions=[{"type": "Action.OpenUrl", "title": "x", "url": "${labels.open_in_erp} ${period}"}],
    )
    with pytest.raises(CardError, match=r'at /actions/0/url: "Open in ERP 2026.11" is not a "uri-reference"'):
        render_page_card(
            "daily_brief",
            "accounts",
            make_pages()["accounts"],
            "en-US",
            erp_base_url=ERP,
            context=context(),
            templates_root=templates,
        )


def test_an_element_without_a_type_is_named():
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "ok"}, {"text": "?"}]}
    with pytest.raises(Problem, match=r"^schema 1.5 violation at /body/1: element has no 'type'$"):
        validate_card(card)
