"""Template files: the card templates, labels and ``scenario.json`` under ``templates/``.

Read once per process (cached): templates are code, not data that changes mid-run.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from include.cards.errors import Problem

TEMPLATES_ROOT = Path(__file__).resolve().parent / "templates"
FORMAT_KINDS = ("amount", "rate", "count", "datetime")


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
def scenario_spec(scenario_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(field name -> format kind, page_id -> ERP path) from scenario.json."""
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
    return formats, erp_paths
