"""Locale-aware text for the numbers and date-times on cards (babel, CLDR data).

Exact halves round away from zero (the contract). babel costs 30-100 us a number and a run
formats tens of thousands, so the common number patterns are precomputed once per locale
and currency (``NumberPlan``, ``CompactPlan``) and texts are cached.

Amounts have two texts: the exact one (``$1,837,102.82``) and a compact one for narrow
places on a card, the locale's CLDR short compact currency format with at least
``COMPACT_SIGNIFICANT_DIGITS`` significant digits (``$1.84M``, ``₩2.58억``, ``US$184만``):
enough that the amounts one card compares stay apart, where babel's fixed fraction digits
would show ``$1.8M`` for both 1.76 and 1.84 million. Below the locale's first compact
magnitude (1,000) the exact text is already short and is used as is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cache, lru_cache
from typing import Any

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import (
    format_compact_currency,
    format_currency,
    format_decimal,
    format_percent,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    is_currency,
    parse_pattern,
)

from include.cards.errors import Problem

RATE_PATTERN = "#,##0.0%"
COMPACT_SIGNIFICANT_DIGITS = 3


class Formatter:
    """Locale-aware text for declared fields; exact halves round away from zero (contract)."""

    def __init__(self, locale: str, currency: object, labels: dict) -> None:
        self.locale = locale
        self.currency = currency
        self.labels = labels
        self._known_currency: str | None = None

    def field(self, kind: str, value: Any, where: str) -> dict:
        """A declared field as the view shows it: ``{"raw", "text"}``, an amount also with
        ``"compact"``. One check of the value for both texts (a run formats millions)."""
        if kind != "amount":
            return {"raw": value, "text": self.format(kind, value, where)}
        if value is None:
            text = self._not_available(where)
            return {"raw": value, "text": text, "compact": text}
        number_text = self._number_text(kind, value, where)
        currency = self._currency(where)
        return {
            "raw": value,
            "text": format_number(kind, self.locale, currency, number_text),
            "compact": format_compact_amount(self.locale, currency, number_text),
        }

    def format(self, kind: str, value: Any, where: str) -> str:
        if value is None:
            return self._not_available(where)
        if kind == "datetime":
            return format_datetime(value, self.locale, where)
        number_text = self._number_text(kind, value, where)
        currency = self._currency(where) if kind == "amount" else None
        return format_number(kind, self.locale, currency, number_text)

    def compact(self, value: Any, where: str) -> str:
        """The compact text of an amount (``US$1.84M``, ``₩2.58억``)."""
        if value is None:
            return self._not_available(where)
        return format_compact_amount(self.locale, self._currency(where), self._number_text("amount", value, where))

    def _not_available(self, where: str) -> str:
        if "not_available" not in self.labels:
            raise Problem(f"field {where} is null and the labels have no 'not_available' text")
        return self.labels["not_available"]

    @staticmethod
    def _number_text(kind: str, value: Any, where: str) -> str:
        if not is_number(value) or not math.isfinite(value):
            raise Problem(f"field {where} must be a finite number ({kind}), got {value!r}")
        if kind == "count" and not isinstance(value, int):
            raise Problem(f"field {where} must be a whole number (count), got {value!r}")
        return str(value)

    def _currency(self, where: str) -> str:
        if self._known_currency is None:
            if not isinstance(self.currency, str) or not is_known_currency(self.currency):
                raise Problem(f"amount field {where} needs a known ISO currency in 'currency', got {self.currency!r}")
            self._known_currency = self.currency
        return self._known_currency


@lru_cache(maxsize=65536)
def format_number(kind: str, locale: str, currency: str | None, number_text: str) -> str:
    """Cached: babel costs ~30-100 us a number and the same values recur across a run's cards."""
    number = Decimal(number_text)
    plan = number_plan(kind, locale, currency)
    loc = babel_locale(locale)
    with localcontext() as ctx:
        ctx.rounding = ROUND_HALF_UP  # Decimal's HALF_UP is "half away from zero"
        text = plan.format(number) if plan is not None and abs(number.adjusted()) < PLAN_MAX_DIGITS else None
        if text is not None:
            return text
        if kind == "amount":
            return format_currency(number, currency, locale=loc)
        if kind == "rate":
            return format_percent(number / 100, RATE_PATTERN, locale=loc)
        return format_decimal(number, locale=loc)


PLAN_MAX_DIGITS = 20  # beyond this Decimal's 28-digit context could make babel round or raise


@dataclass(frozen=True)
class NumberPlan:
    """babel's NumberPattern.apply for one simple pattern, locale and currency, precomputed.

    Cards format tens of thousands of numbers a run and babel re-derives the pattern's
    prefix, suffix, symbols and currency each time. For patterns of the common shape
    (grouping by 3, no exponent, significant digits, quotes or currency names) those parts
    do not depend on the value, so they are taken from babel once; the digits are produced
    exactly as apply produces them (same Decimal quantize under the caller's context).
    """

    prefixes: tuple[str, str]  # positive, negative
    suffixes: tuple[str, str]
    frac_prec: tuple[int, int]
    group: str
    decimal: str

    def format(self, number: Decimal) -> str | None:
        """The text babel would give (call under the same Decimal context), or None when this
        plan does not cover the value."""
        negative = int(number.is_signed())
        low, high = self.frac_prec
        rounded = abs(number).normalize().quantize(Decimal(1).scaleb(-high))
        whole, _, fraction = f"{rounded:f}".partition(".")
        fraction = fraction or "0"
        if low != high and (low != 0 or int(fraction) != 0):
            return None  # babel would trim trailing zeros: not worth copying, it never happens for cards
        digits = f"{int(whole):,}".replace(",", self.group)
        if high and low == high:
            digits += self.decimal + fraction.ljust(high, "0")
        return self.prefixes[negative] + digits + self.suffixes[negative]


@cache
def number_plan(kind: str, locale: str, currency: str | None) -> NumberPlan | None:
    """The plan for formatting `kind` numbers in `locale`, or None if babel must do it."""
    loc = babel_locale(locale)
    if kind == "amount":
        pattern, frac_prec = loc.currency_formats["standard"], (get_currency_precision(currency),) * 2
    elif kind == "rate":
        pattern = parse_pattern(RATE_PATTERN)
        frac_prec = pattern.frac_prec
    else:
        pattern = loc.decimal_formats[None]
        frac_prec = pattern.frac_prec
    affixes = (*pattern.prefix, *pattern.suffix)
    simple = (
        pattern.grouping == (3, 3)
        and pattern.int_prec[0] == 1
        and not pattern.exp_prec
        and "@" not in pattern.pattern
        and pattern.scale == (2 if kind == "rate" else 0)
        and not any("'" in a or "¤¤¤" in a for a in affixes)
    )
    if not simple:
        return None

    def resolve(affix: str) -> str:  # what apply does to the whole text; the digits hold no ¤
        if currency is None:
            return affix
        return affix.replace("¤¤", currency.upper()).replace("¤", get_currency_symbol(currency, loc))

    return NumberPlan(
        prefixes=(resolve(pattern.prefix[0]), resolve(pattern.prefix[1])),
        suffixes=(resolve(pattern.suffix[0]), resolve(pattern.suffix[1])),
        frac_prec=frac_prec,
        group=get_group_symbol(loc),
        decimal=get_decimal_symbol(loc),
    )


@lru_cache(maxsize=65536)
def format_compact_amount(locale: str, currency: str, number_text: str) -> str:
    """Cached, like format_number: the locale's short compact currency text of an amount,
    rounded half away from zero to at least COMPACT_SIGNIFICANT_DIGITS significant digits."""
    number = Decimal(number_text)
    plan = compact_plan(locale, currency)
    with localcontext() as ctx:
        ctx.rounding = ROUND_HALF_UP
        step = plan.step_for(abs(number)) if abs(number.adjusted()) < PLAN_MAX_DIGITS else None
        if step is None:  # below the first compact magnitude (or beyond what a plan covers)
            return format_number("amount", locale, currency, number_text)
        fraction_digits = plan.fraction_digits(abs(number), step)
        text = plan.format(number, step, fraction_digits)
        if text is not None:
            return text
        return format_compact_currency(number, currency, locale=babel_locale(locale), fraction_digits=fraction_digits)


@dataclass(frozen=True)
class CompactPlan:
    """babel's format_compact_currency for one locale and currency, precomputed.

    ``steps`` are CLDR's compact magnitudes with the divisor their pattern implies
    (``¤00K`` at 10,000 divides by 1,000), ascending. ``affixes`` holds, per step, the
    (positive, negative) prefix and suffix with the currency symbol in place, or is None
    when a pattern depends on the plural form or has quotes: then babel formats the value.
    The digits are made exactly as babel makes them (same rounding, same carry into the
    next magnitude, trailing fraction zeros dropped, no grouping); test_formatting checks
    this against babel on random values.
    """

    steps: tuple[tuple[int, int], ...]
    affixes: tuple[tuple[tuple[str, str], tuple[str, str]], ...] | None
    decimal: str

    def step_for(self, magnitude: Decimal) -> int | None:
        found = None
        for index, (threshold, _divisor) in enumerate(self.steps):
            if magnitude >= threshold:
                found = index
        return found

    def fraction_digits(self, magnitude: Decimal, step: int) -> int:
        whole_digits = len(str(int(magnitude / self.steps[step][1])))
        return max(0, COMPACT_SIGNIFICANT_DIGITS - whole_digits)

    def format(self, number: Decimal, step: int, fraction_digits: int) -> str | None:
        """The text babel gives for ``number`` at ``fraction_digits`` (call under the
        caller's Decimal context), or None when babel must do it."""
        if self.affixes is None:
            return None
        magnitude = abs(number)
        rounded = (magnitude / self.steps[step][1]).quantize(Decimal(1).scaleb(-fraction_digits))
        if step + 1 < len(self.steps) and rounded * self.steps[step][1] >= self.steps[step + 1][0]:
            # 999,999 rounds to "1000K": babel moves up to the next magnitude ("1M").
            step += 1
            rounded = (Decimal(self.steps[step][0]) / self.steps[step][1]).quantize(Decimal(1).scaleb(-fraction_digits))
        digits = f"{rounded.normalize():f}".replace(".", self.decimal)
        prefix, suffix = self.affixes[step][int(number.is_signed())]
        return prefix + digits + suffix


@cache
def compact_plan(locale: str, currency: str) -> CompactPlan:
    loc = babel_locale(locale)
    formats = loc.compact_currency_formats["short"]
    other = formats["other"]
    symbol = get_currency_symbol(currency, loc)
    steps = []
    affixes: list | None = []
    for threshold in sorted(other, key=int):
        pattern = parse_pattern(other[threshold])
        steps.append((int(threshold), int(threshold) // 10 ** (pattern.pattern.count("0") - 1)))
        same_for_all_forms = all(
            forms.get(threshold, other[threshold]).pattern == pattern.pattern for forms in formats.values()
        )
        affix_texts = (*pattern.prefix, *pattern.suffix)
        if (
            affixes is None
            or not same_for_all_forms
            or "¤" not in pattern.pattern
            or any("'" in a or "¤¤¤" in a for a in affix_texts)
        ):
            affixes = None
            continue
        affixes.append(
            (
                (_with_symbol(pattern.prefix[0], currency, symbol), _with_symbol(pattern.suffix[0], currency, symbol)),
                (_with_symbol(pattern.prefix[1], currency, symbol), _with_symbol(pattern.suffix[1], currency, symbol)),
            )
        )
    return CompactPlan(tuple(steps), None if affixes is None else tuple(affixes), get_decimal_symbol(loc))


def _with_symbol(affix: str, currency: str, symbol: str) -> str:
    return affix.replace("¤¤", currency.upper()).replace("¤", symbol)


def format_datetime(value: Any, locale: str, where: str) -> str:
    """Medium date + short time in the value's own UTC offset, e.g. 'Nov 26, 2026, 7:00 PM GMT+09:00'."""
    text = datetime_text(value, locale) if isinstance(value, str) else None
    if text is None:
        raise Problem(f"field {where} must be an ISO 8601 date-time with a UTC offset, got {value!r}")
    return text


@lru_cache(maxsize=1024)
def datetime_text(value: str, locale: str) -> str | None:
    """Cached: every card of a run shows the same few data times, at ~80 us each in babel."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.utcoffset() is None:
        return None
    loc = babel_locale(locale)
    date_text = format_date(moment, "medium", locale=loc)
    time_text = format_time(moment, f"{loc.time_formats['short'].pattern} ZZZZ", tzinfo=moment.tzinfo, locale=loc)
    return loc.datetime_formats["medium"].format(time_text, date_text)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


@cache
def is_known_currency(code: str) -> bool:
    return is_currency(code)


@cache
def babel_locale(locale: str) -> Locale:
    return Locale.parse(locale.replace("-", "_"))
