"""Adaptive Cards (schema 1.5) for scenario pages: template + page data + locale -> card.

Why templates are data: a new scenario or a layout change must not need Python. Each page's
card is a JSON template under ``templates/<scenario_id>/<page_id>.json`` — for numbered
pages (``account_detail_3``) the template of their kind (``account_detail.json``) — bound by
one generic binder. The package, in the order a card is made:

- ``files``: templates, ``labels.<locale>.json`` and ``scenario.json`` (field formats, ERP paths);
- ``view_model`` + ``formatting``: page data with every declared field formatted in the locale;
- ``compiler``: the template compiled once per locale into one Python function;
- ``validation``: the official 1.5 schema and the size limit.

Cards carry nothing but page data and labels, so they can be shared between subscribers
with identical inputs.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import babel

from include.cards.compiler import compiled_template
from include.cards.errors import CardError, Problem
from include.cards.files import TEMPLATES_ROOT, load_json_object, scenario_spec
from include.cards.validation import CARD_VERSION, MAX_CARD_BYTES, validate_card
from include.cards.view_model import VIEW_KEYS, page_keys, view_model
from include.config import SUPPORTED_LOCALES

__all__ = [
    "CARD_VERSION",
    "MAX_CARD_BYTES",
    "TEMPLATES_ROOT",
    "CardError",
    "render_cards",
    "render_page_card",
    "renderer_fingerprint",
]

log = logging.getLogger(__name__)

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_NUMBERED_PAGE = re.compile(r"([a-z][a-z0-9_]*)_[0-9]+")  # a page of a repeated kind: <kind>_<n>
_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def renderer_fingerprint(scenario_id: str, templates_root: Path = TEMPLATES_ROOT) -> str:
    """A hash of everything besides the page data that decides a scenario's cards: its
    templates and labels, this package's code and babel's version (its locale data)."""
    digest = hashlib.sha256()
    for module in sorted(_PACKAGE_DIR.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes())
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
    templates_root: Path = TEMPLATES_ROOT,
) -> dict[str, dict]:
    """Render every page of one scenario result; page_id -> card, in the pages' order.

    ``context`` (sales_org_cd, currency, period, as_of) is what every card shows besides its
    page: the contract puts it only on the overview page, and list pages have no room for it.
    """
    if not isinstance(pages, Mapping):
        raise CardError(f"{scenario_id} [{locale}]: pages must map page ids to page data, got {type(pages).__name__}")
    started = time.perf_counter()
    try:
        keys = page_keys(scenario_spec(Path(templates_root) / scenario_id), pages)
    except Problem as problem:
        raise CardError(f"{scenario_id} [{locale}]: {problem}") from None
    cards = {
        page_id: render_page_card(
            scenario_id,
            page_id,
            data,
            locale,
            erp_base_url=erp_base_url,
            context=context,
            templates_root=templates_root,
            keys=keys,
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
    templates_root: Path = TEMPLATES_ROOT,
    keys: Mapping[str, str] | None = None,
) -> dict:
    """Render and validate one page's card; any problem raises CardError naming the card.

    A list page is seen by its template under its own page id (``${accounts}``). ``keys``
    (page id -> its key, from the scenario result's pages) lets a Back action carry the key
    of the page it opens (a model page's Back to its account or group page).
    """
    try:
        _check_inputs(scenario_id, page_id, page_data, locale)
        page_data = {**context, **(page_data if isinstance(page_data, Mapping) else {page_id: page_data})}
        scenario_dir = Path(templates_root) / scenario_id
        spec = scenario_spec(scenario_dir)
        labels = load_json_object(scenario_dir / f"labels.{locale}.json")
        view = view_model(page_data, page_id, spec, labels, locale, erp_base_url, page_keys=keys)
        card = compiled_template(template_path(scenario_dir, page_id), locale)(view, view)
        validate_card(card)
    except Problem as problem:
        raise CardError(f"card {scenario_id}/{page_id} [{locale}]: {problem}") from None
    return card


@cache
def template_path(scenario_dir: Path, page_id: str) -> Path:
    """``<page_id>.json``, or — for a numbered page without a template of its own
    (``account_detail_3``) — the template of its kind (``account_detail.json``)."""
    own = scenario_dir / f"{page_id}.json"
    numbered = _NUMBERED_PAGE.fullmatch(page_id)
    return own if numbered is None or own.exists() else scenario_dir / f"{numbered.group(1)}.json"


def _check_inputs(scenario_id: str, page_id: str, page_data: object, locale: str) -> None:
    if locale not in SUPPORTED_LOCALES:
        raise Problem(f"unsupported locale {locale!r}; supported: {', '.join(SUPPORTED_LOCALES)}")
    for what, name in (("scenario_id", scenario_id), ("page_id", page_id)):
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise Problem(f"{what} {name!r} is not a lower-case identifier")
    if not isinstance(page_data, (Mapping, list)):
        raise Problem(f"page data must be an object or a list, got {type(page_data).__name__}")
    reserved = [key for key in VIEW_KEYS if isinstance(page_data, Mapping) and key in page_data]
    if reserved:
        raise Problem(f"page data uses names reserved for the card view: {reserved}")
