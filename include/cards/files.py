"""Template files: the card templates, labels and ``scenario.json`` under ``templates/``.

Read once per process (cached): templates are code, not data that changes mid-run.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import NamedTuple

from include.cards.errors import Problem

TEMPLATES_ROOT = Path(__file__).resolve().parent / "templates"
FORMAT_KINDS = ("amount", "rate", "count", "datetime")
OPTIONAL_SCOPES = ("page", "entries")


class ListView(NamedTuple):
    """How a card shows a long list field: its first ``first`` entries, ``per_row`` a row."""

    first: int
    per_row: int


class ScenarioSpec(NamedTuple):
    """What scenario.json declares besides the templates.

    - ``formats``: field name -> format kind (amount, rate, count, datetime);
    - ``erp_paths``: page id, or page kind (the id without its ``_<n>``) -> ERP path, where a
      ``{field}`` segment is that page field's value;
    - ``optional``: fields a page (scope ``page``) or a list entry (``entries``) may lack;
      the view has them as null, so that templates can guard them with ``exists()``;
    - ``lists``: list fields shown as rows of a few entries, the first ones only;
    - ``page_keys``: page kind -> the field holding a page's key (the code it is about);
    - ``back``: page kind -> the field whose first page id that kind's Back action opens.
    """

    formats: dict[str, str]
    erp_paths: dict[str, str]
    optional: dict[str, tuple[str, ...]]
    lists: dict[str, ListView]
    page_keys: dict[str, str]
    back: dict[str, str]


@cache
def load_json_object(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Problem(f"missing template file {path}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Problem(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise Problem(f"{path} must hold a JSON object")
    return value


@cache
def scenario_spec(scenario_dir: Path) -> ScenarioSpec:
    """scenario.json, checked (see ScenarioSpec)."""
    path = scenario_dir / "scenario.json"
    raw = load_json_object(path)
    formats: dict[str, str] = {}
    for kind, names in raw.get("formats", {}).items():
        if kind not in FORMAT_KINDS:
            raise Problem(f"{path}: unknown format kind {kind!r}; known: {', '.join(FORMAT_KINDS)}")
        for name in names:
            if name in formats:
                raise Problem(f"{path}: field {name!r} declared as both {formats[name]} and {kind}")
            formats[name] = kind
    erp_paths = raw.get("erp_paths")
    if not isinstance(erp_paths, dict):
        raise Problem(f"{path}: 'erp_paths' must map page ids to ERP paths")
    optional = raw.get("optional", {})
    if not isinstance(optional, dict) or any(
        scope not in OPTIONAL_SCOPES or not isinstance(names, list) or not all(isinstance(n, str) for n in names)
        for scope, names in optional.items()
    ):
        raise Problem(f"{path}: 'optional' must map {' or '.join(OPTIONAL_SCOPES)} to lists of field names")
    lists: dict[str, ListView] = {}
    for name, view in raw.get("lists", {}).items():
        first, per_row = (view.get("first"), view.get("per_row")) if isinstance(view, dict) else (None, None)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in (first, per_row)):
            raise Problem(f"{path}: list {name!r} needs whole numbers above 0 for 'first' and 'per_row'")
        lists[name] = ListView(first, per_row)
    names = {}
    for section in ("page_keys", "back"):
        names[section] = raw.get(section, {})
        if not isinstance(names[section], dict) or not all(isinstance(v, str) for v in names[section].values()):
            raise Problem(f"{path}: '{section}' must map page kinds to field names")
    return ScenarioSpec(
        formats,
        erp_paths,
        {scope: tuple(optional.get(scope, ())) for scope in OPTIONAL_SCOPES},
        lists,
        names["page_keys"],
        names["back"],
    )
