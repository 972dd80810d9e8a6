"""Adaptive Card rendering: real templates, real babel, the official 1.5 schema.

Page data is built by hand from shared/contracts/daily-brief.md. Expected texts are
worked out from the inputs (CLDR formats, contract rounding), not taken from the renderer.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import jsonschema
import pytest

from include.cards import (
    MAX_CARD_BYTES,
    TEMPLATES_ROOT,
    CardError,
    render_cards,
    render_page_card,
)
from include.config import SUPPORTED_LOCALES
from tests.support import ROOT

ERP = "https://erp.example.com/app/"
PAGE_IDS = ["overview", "accounts", "product_groups", "operations"]
LABELS = {
    locale: json.loads((TEMPLATES_ROOT / "daily_brief" / f"labels.{locale}.json").read_text(encoding="utf-8"))
    for locale in SUPPORTED_LOCALES
}


def context(**overrides) -> dict:
    return {
        "sales_org_cd": "5503",
        "currency": "USD",
        "period": "2026.11",
        "as_of": "2026-11-26T10:00:00+09:00",
        **overrides,
    }


def issues(n: int = 1) -> dict:
    return {
        "credit_block": 2 * n,
        "delivery_block": n,
        "unconfirmed_delay": 0,
        "do_delay": 3 * n,
        "incomplete": 1200 * n,
    }


def orders() -> dict:
    return {"billed": 1500.0, "open": 250.75, "blocked": 99.99, "upcoming": 0.0}


def make_pages(**ctx) -> dict:
    """One subscriber's full daily_brief output: Korean names, a null rate, a 10-row list."""
    head = context(**ctx)
    top_accounts = [
        {"account": "5009095 삼성전자 판매", "target": 1200.0, "est_sales": 600.0, "ach_rate": 50.0},
        {"account": "5009101 LG Electronics", "target": 800.0, "est_sales": 700.0, "ach_rate": 87.5},
    ]
    groups = [{"product_group": "모니터 MNT", "target": 2000.0, "est_sales": 1300.0, "ach_rate": 65.0}]
    return {
        "overview": {
            **head,
            "total_target": 1234566.5,
            "total_est_sales": 1300.0,
            "total_billing": 0.0,
            "total_ach_rate": None,
            "top_accounts": top_accounts,
            "top_product_groups": groups,
            "issues": issues(),
            "orders": orders(),
        },
        "accounts": [
            {
                **top_accounts[0],
                "materials": [
                    {
                        "material": "MAT-001 모니터 27인치",
                        "product_group": "모니터 MNT",
                        "target": 700.0,
                        "est_sales": 100.0,
                        "gap": 600.0,
                    },
                    {
                        "material": "MAT-002",
                        "product_group": "모니터 MNT",
                        "target": 500.0,
                        "est_sales": 500.0,
                        "gap": 0.0,
                    },
                ],
            },
            {**top_accounts[1], "materials": []},
        ],
        "product_groups": [
            {
                **groups[0],
                "accounts": [
                    {"account": "5009095 삼성전자 판매", "target": 1200.0, "est_sales": 600.0, "gap": 600.0},
                    {"account": "5009101 LG Electronics", "target": 800.0, "est_sales": 700.0, "gap": 100.0},
                ],
            },
        ],
        "operations": {
            "issues": issues(),
            "orders": orders(),
            "materials": [
                {
                    "material": f"MAT-{i:03d} 부품",
                    "billed": 10.0 * i,
                    "open": 5.5,
                    "blocked": 100.0 - i,
                    "upcoming": 0.0,
                    "issues_total": i,
                }
                for i in range(10)
            ],
        },
    }


def texts(node) -> list[str]:
    """Every user-visible string of a card (TextBlock text, Fact title/value, action title)."""
    found = []
    if isinstance(node, dict):
        for key in ("text", "title", "value"):
            if isinstance(node.get(key), str):
                found.append(node[key])
        for value in node.values():
            found.extend(texts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(texts(value))
    return found


def elements_of_type(node, type_name: str) -> list[dict]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == type_name:
            found.append(node)
        for value in node.values():
            found.extend(elements_of_type(value, type_name))
    elif isinstance(node, list):
        for value in node:
            found.extend(elements_of_type(value, type_name))
    return found


def fact(card: dict, title: str) -> str:
    values = [f["value"] for fs in elements_of_type(card, "FactSet") for f in fs["facts"] if f["title"] == title]
    assert len(values) == 1, f"fact {title!r}: {values}"
    return values[0]


def compact(card: dict) -> bytes:
    return json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@pytest.fixture(scope="module")
def official_validator():
    """The untouched official schema through the reference Python implementation."""
    schema = json.loads(resources.files("adaptive_cards").joinpath("schemas/schema-1.5.json").read_text("utf-8"))
    return jsonschema.Draft6Validator(schema)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A writable copy of the real templates, for tests that break one."""
    shutil.copytree(TEMPLATES_ROOT, tmp_path / "templates")
    return tmp_path / "templates"


def write_template(root: Path, page_id: str, body: list, **card) -> None:
    template = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "body": body,
        **card,
    }
    (root / "daily_brief" / f"{page_id}.json").write_text(json.dumps(template), encoding="utf-8")


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
        [action] = card["actions"]
        assert action["type"] == "Action.OpenUrl"
        assert action["url"] == f"https://erp.example.com/app/sales/5503/{erp_paths[page_id]}?period=2026.11"
        assert action["title"] == LABELS[locale]["open_in_erp"]


def test_erp_url_components_are_url_encoded():
    page = make_pages(sales_org_cd="55 03/서울", period="2026.11&x=1")["overview"]
    card = render_page_card(
        "daily_brief", "overview", page, "en-US", erp_base_url="https://erp.example.com", context=context()
    )

    org = quote("55 03/서울", safe="")
    assert org == "55%2003%2F%EC%84%9C%EC%9A%B8"
    assert card["actions"][0]["url"] == f"https://erp.example.com/sales/{org}/brief?period=2026.11%26x%3D1"


def test_labels_differ_by_locale_and_cover_the_same_keys():
    assert LABELS["en-US"].keys() == LABELS["ko-KR"].keys()
    pages = make_pages()
    en = render_page_card("daily_brief", "overview", pages["overview"], "en-US", erp_base_url=ERP, context=context())
    ko = render_page_card("daily_brief", "overview", pages["overview"], "ko-KR", erp_base_url=ERP, context=context())

    assert en["body"][0]["text"] == "Daily sales brief"
    assert ko["body"][0]["text"] == "일일 영업 브리핑"
    assert (en["lang"], ko["lang"]) == ("en", "ko")
    assert fact(en, "Target plan") and fact(ko, "목표")


def test_amounts_rates_and_counts_are_formatted_per_locale():
    pages = make_pages()
    en = render_page_card("daily_brief", "overview", pages["overview"], "en-US", erp_base_url=ERP, context=context())
    ko = render_page_card("daily_brief", "overview", pages["overview"], "ko-KR", erp_base_url=ERP, context=context())

    # 1234566.5 USD: two decimals kept; CLDR symbol is "$" in en-US and "US$" in ko-KR.
    assert fact(en, "Target plan") == "$1,234,566.50"
    assert fact(ko, "목표") == "US$1,234,566.50"
    assert fact(en, "Billing") == "$0.00"
    # total_ach_rate is null (target 0 somewhere upstream): the label, not a number.
    assert fact(en, "Achievement") == "n/a"
    assert fact(ko, "달성률") == "해당 없음"
    # counts: grouping, no decimals
    assert fact(en, "Incomplete") == "1,200"
    assert fact(ko, "미완료") == "1,200"
    # rates in the top-accounts table: one decimal and a percent sign
    en_cells = [tb["text"] for tb in elements_of_type(en, "TextBlock")]
    assert "87.5%" in en_cells and "50.0%" in en_cells
    assert "5009095 삼성전자 판매" in en_cells


def test_krw_has_no_decimals_and_exact_halves_round_away_from_zero():
    page = make_pages(currency="KRW")["overview"]
    ko = render_page_card("daily_brief", "overview", page, "ko-KR", erp_base_url=ERP, context=context())
    en = render_page_card("daily_brief", "overview", page, "en-US", erp_base_url=ERP, context=context())

    # 1234566.5 KRW: the won has no minor unit; half away from zero gives 1234567
    # (banker's rounding, babel's default, would give 1234566).
    assert fact(ko, "목표") == "₩1,234,567"
    assert fact(en, "Target plan") == "₩1,234,567"
    assert fact(ko, "보류") == "₩100"  # 99.99 → 100


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
    assert elements_of_type(cards["overview"], "Table") == []
    assert labels["empty_accounts"] in texts(cards["accounts"])
    assert labels["empty_product_groups"] in texts(cards["product_groups"])
    assert labels["empty_order_materials"] in texts(cards["operations"])


def test_an_account_without_materials_says_so():
    card = render_page_card(
        "daily_brief", "accounts", make_pages()["accounts"], "en-US", erp_base_url=ERP, context=context()
    )

    [with_rows, without_rows] = elements_of_type(card, "Container")
    assert len(elements_of_type(with_rows, "TableRow")) == 1 + 2  # header + 2 materials
    assert "No material of this account has a target plan." in texts(without_rows)
    assert elements_of_type(without_rows, "Table") == []


def test_ten_row_list_renders_every_row_in_order():
    card = render_page_card(
        "daily_brief", "operations", make_pages()["operations"], "en-US", erp_base_url=ERP, context=context()
    )

    [table] = elements_of_type(card, "Table")
    first_cells = [row["cells"][0]["items"][0]["text"] for row in table["rows"]]
    assert first_cells == ["Material"] + [f"MAT-{i:03d} 부품" for i in range(10)]
    assert table["rows"][3]["cells"][3]["items"][0]["text"] == "$98.00"  # blocked = 100 - 2


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


# --- errors ---


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
    with pytest.raises(CardError, match=r"\$\{total_billing.text\} does not resolve: no 'total_billing'"):
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


def test_missing_template_raises(templates):
    (templates / "daily_brief" / "operations.json").unlink()
    with pytest.raises(CardError, match=r"daily_brief/operations \[ko-KR\]: missing template file .*operations.json"):
        render_cards(
            "daily_brief", make_pages(), "ko-KR", erp_base_url=ERP, context=context(), templates_root=templates
        )


def test_unknown_locale_raises():
    with pytest.raises(CardError, match=r"daily_brief/overview \[fr-FR\]: unsupported locale 'fr-FR'"):
        render_cards("daily_brief", make_pages(), "fr-FR", erp_base_url=ERP, context=context())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda p: p["top_accounts"][1].update(target="800"),
            r"field top_accounts\[1\].target must be a finite number",
        ),
        (lambda p: p["orders"].update(open=float("nan")), r"field orders.open must be a finite number"),
        (lambda p: p["issues"].update(do_delay=3.0), r"field issues.do_delay must be a whole number"),
        (lambda p: p.update(currency="XXY"), r"needs a known ISO currency in 'currency', got 'XXY'"),
        (
            lambda p: p.update(as_of="2026-11-26T10:00:00"),
            r"field as_of must be an ISO 8601 date-time with a UTC offset",
        ),
        (lambda p: p.update(sales_org_cd=None), r"page field 'sales_org_cd' must be a non-empty string"),
    ],
)
def test_bad_page_data_is_named_not_coerced(change, expected):
    page = make_pages()["overview"]
    change(page)
    with pytest.raises(CardError, match=expected):
        render_page_card("daily_brief", "overview", page, "en-US", erp_base_url=ERP, context=context())


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


# --- determinism ---

_RENDER_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from test_cards import make_pages, context, ERP
from include.cards import render_cards
cards = {{loc: render_cards("daily_brief", make_pages(), loc, erp_base_url=ERP, context=context()) for loc in ("en-US", "ko-KR")}}
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
    script = _RENDER_SCRIPT.format(tests=str(Path(__file__).resolve().parent))
    other = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, check=True).stdout
    assert other.decode("utf-8") == here


def test_fast_number_formatting_equals_babel_on_random_values():
    """cards formats numbers from a precomputed babel plan; it must give babel's text exactly."""
    import random
    from decimal import ROUND_HALF_UP, Decimal, localcontext

    from babel import Locale
    from babel.numbers import format_currency, format_decimal, format_percent

    from include.cards import formatting

    rng = random.Random(20261128)
    values = ["0", "-0", "0.005", "-0.005", "12.25", "0.125", "1234566.5", "-987654321.995", "99.95"]
    values += [f"{rng.uniform(-1e9, 1e9):.{rng.randint(0, 4)}f}" for _ in range(600)]
    for locale in SUPPORTED_LOCALES:
        babel_locale = Locale.parse(locale.replace("-", "_"))
        for text in values:
            number = Decimal(text)
            with localcontext() as ctx:
                ctx.rounding = ROUND_HALF_UP
                expected = {
                    ("amount", cur): format_currency(number, cur, locale=babel_locale)
                    for cur in ("USD", "KRW", "EUR", "JPY")
                }
                expected[("rate", None)] = format_percent(number / 100, "#,##0.0%", locale=babel_locale)
                expected[("count", None)] = format_decimal(number, locale=babel_locale)
            for (kind, currency), want in expected.items():
                assert formatting.format_number(kind, locale, currency, text) == want, (kind, locale, currency, text)
