"""Numbers and date-times on cards: CLDR formats per locale, half-away-from-zero rounding,
the precomputed number plans against babel itself, and bad values named, never coerced."""

from __future__ import annotations

import pytest

from include.cards import CardError, render_page_card
from include.cards.errors import Problem
from include.cards.formatting import Formatter
from include.config import SUPPORTED_LOCALES
from tests.include.cards.pages import ERP, context, elements_of_type, fact, figure, make_pages


def test_amounts_rates_and_counts_are_formatted_per_locale():
    pages = make_pages()
    en = render_page_card("daily_brief", "overview", pages["overview"], "en-US", erp_base_url=ERP, context=context())
    ko = render_page_card("daily_brief", "overview", pages["overview"], "ko-KR", erp_base_url=ERP, context=context())

    # 1234566.5 USD on a card: CLDR compact, 3 significant digits; "$" and M in en-US,
    # "US$" and 만 (10^4) in ko-KR.
    assert figure(en, "Target plan") == "$1.23M"
    assert figure(ko, "목표") == "US$123만"
    assert figure(en, "Billing") == "$0.00"  # below 1,000 the exact text is short already
    # total_ach_rate is null (target 0 somewhere upstream): the label, not a number.
    assert figure(en, "Achievement") == "n/a"
    assert figure(ko, "달성률") == "해당 없음"
    # counts: grouping, no decimals
    assert fact(en, "Incomplete") == "1,200"
    assert fact(ko, "미완료") == "1,200"
    # rates in the top-accounts rows: one decimal and a percent sign
    en_cells = [tb["text"] for tb in elements_of_type(en, "TextBlock")]
    assert "87.5%" in en_cells and "50.0%" in en_cells
    assert "5009095 삼성전자 판매" in en_cells


def test_krw_has_no_decimals_and_exact_halves_round_away_from_zero():
    page = make_pages(currency="KRW")["overview"]
    page["total_target"] = 1_225_000.0  # 1.225M: half away from zero gives 1.23M, banker's 1.22M
    ko = render_page_card("daily_brief", "overview", page, "ko-KR", erp_base_url=ERP, context=context())
    en = render_page_card("daily_brief", "overview", page, "en-US", erp_base_url=ERP, context=context())

    assert figure(en, "Target plan") == "₩1.23M"
    assert figure(ko, "목표") == "₩123만"  # 122.5만 → 123만
    # 99.99 KRW: the won has no minor unit; below 1,000 the exact text, 99.99 → 100
    assert fact(ko, "보류") == "₩100"


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
    ],
)
def test_bad_page_data_is_named_not_coerced(change, expected):
    page = make_pages()["overview"]
    change(page)
    with pytest.raises(CardError, match=expected):
        render_page_card("daily_brief", "overview", page, "en-US", erp_base_url=ERP, context=context())


def test_formatter_on_its_own():
    en = Formatter("en-US", "EUR", {"not_available": "n/a"})
    assert en.format("amount", -1234.005, "x") == "-€1,234.01"  # half away from zero, below zero too
    assert en.format("rate", 12.25, "x") == "12.3%"
    assert en.format("count", 1234567, "x") == "1,234,567"
    assert en.format("amount", None, "x") == "n/a"
    assert en.format("datetime", "2026-11-26T19:00:00+00:00", "x") == "Nov 26, 2026, 7:00\u202fPM GMT+00:00"
    assert Formatter("ko-KR", "KRW", {}).format("datetime", "2026-11-26T19:00:00-05:30", "x") == (
        "2026. 11. 26. 오후 7:00 GMT-05:30"
    )
    with pytest.raises(Problem, match=r"^field total is null and the labels have no 'not_available' text$"):
        Formatter("en-US", "USD", {}).format("amount", None, "total")
    with pytest.raises(Problem, match=r"^field flag must be a finite number \(rate\), got True$"):
        en.format("rate", True, "flag")  # a bool is not a number


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


@pytest.mark.parametrize(
    ("locale", "currency", "value", "expected"),
    [
        ("en-US", "USD", 1837102.82, "$1.84M"),
        ("ko-KR", "USD", 1837102.82, "US$184만"),
        ("ko-KR", "KRW", 257612381, "₩2.58억"),
        ("en-US", "KRW", 257612381, "₩258M"),
        ("en-US", "USD", 12345, "$12.3K"),
        ("ko-KR", "KRW", 12345, "₩1.23만"),
        ("en-US", "USD", -987654321987.65, "-$988B"),
        ("ko-KR", "KRW", -987654321987.65, "-₩9877억"),
        ("en-US", "JPY", 999_999, "¥1M"),  # 999.999K rounds to 1000K: the next unit, as CLDR says
        ("en-US", "USD", 1_225_000, "$1.23M"),  # exact half: away from zero
        ("en-US", "USD", -1_225_000, "-$1.23M"),
        ("en-US", "USD", 999.995, "$1,000.00"),  # below 1,000: the exact text
        ("ko-KR", "EUR", 0.5, "€0.50"),
    ],
)
def test_compact_amounts_follow_cldr_with_three_significant_digits(locale, currency, value, expected):
    assert Formatter(locale, currency, {}).compact(value, "x") == expected


def test_compact_amounts_keep_three_significant_digits_on_random_values():
    """Two amounts a card compares stay apart: the compact text is within half a unit of the
    third significant digit of the value (0.5 %), in both locales' units."""
    import random

    units = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12, "천": 10**3, "만": 10**4, "억": 10**8, "조": 10**12}
    rng = random.Random(7)
    for _ in range(2000):
        value = rng.choice([-1, 1]) * rng.uniform(1_000, 9.9e14)
        for locale in SUPPORTED_LOCALES:
            text = Formatter(locale, "USD", {}).compact(value, "x")
            number = float(text.lstrip("-").removeprefix("US$").removeprefix("$")[:-1]) * units[text[-1]]
            assert abs(number - abs(value)) <= 0.005 * abs(value), (locale, value, text)
            assert text.startswith("-") == (value < 0)


def test_compact_null_is_the_not_available_label():
    assert Formatter("ko-KR", "KRW", {"not_available": "해당 없음"}).compact(None, "x") == "해당 없음"


def test_fast_compact_formatting_equals_babel_on_random_values():
    """Compact amounts come from a precomputed plan; it must give babel's
    format_compact_currency text exactly, at the fraction digits the plan chose."""
    import random
    from decimal import ROUND_HALF_UP, Decimal, localcontext

    from babel.numbers import format_compact_currency

    from include.cards import formatting

    rng = random.Random(20261202)
    values = ["1000", "999999", "-999999", "999950", "99950", "9995", "9999.5", "1e15", "123456789012345678"]
    values += [f"{rng.uniform(-1e12, 1e12) / 10 ** rng.randint(0, 8):.{rng.randint(0, 2)}f}" for _ in range(1500)]
    for locale in SUPPORTED_LOCALES:
        for currency in ("USD", "KRW", "EUR", "JPY", "INR", "GBP", "BRL", "AUD"):
            plan = formatting.compact_plan(locale, currency)
            for text in values:
                number = Decimal(text)
                with localcontext() as ctx:
                    ctx.rounding = ROUND_HALF_UP
                    step = plan.step_for(abs(number))
                    if step is None:
                        expected = formatting.format_number("amount", locale, currency, text)
                    else:
                        expected = format_compact_currency(
                            number,
                            currency,
                            locale=formatting.babel_locale(locale),
                            fraction_digits=plan.fraction_digits(abs(number), step),
                        )
                assert formatting.format_compact_amount(locale, currency, text) == expected, (locale, currency, text)
