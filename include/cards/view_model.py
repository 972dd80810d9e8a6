"""The view model a template binds against: page data with formatted fields and the ERP link.

Every field declared in ``scenario.json`` (amount, rate, count, datetime) becomes
``{"raw": value, "text": formatted}`` in the card's locale; ``erp_url`` is the page's ERP
link and ``has_figures`` is false when the page holds no non-zero number and no list row
(the honest "no data" state).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from include.cards.errors import Problem
from include.cards.formatting import Formatter, is_number

VIEW_KEYS = ("labels", "erp_url", "has_figures")


def view_model(
    page_data: Mapping[str, Any],
    page_id: str,
    spec: tuple[dict[str, str], dict[str, str]],
    labels: dict,
    locale: str,
    erp_base_url: str,
) -> dict:
    formats, erp_paths = spec
    formatter = Formatter(locale, page_data.get("currency"), labels)
    has_figures = False

    def present(value: Any, key: str | None, where: str) -> Any:
        nonlocal has_figures
        kind = formats.get(key) if key is not None else None
        if kind is not None:
            has_figures = has_figures or (is_number(value) and value != 0)
            return {"raw": value, "text": formatter.format(kind, value, where)}
        if isinstance(value, Mapping):
            return {k: present(v, k, f"{where}.{k}" if where else k) for k, v in value.items()}
        if isinstance(value, list):
            has_figures = has_figures or bool(value)
            return [present(v, None, f"{where}[{i}]") for i, v in enumerate(value)]
        has_figures = has_figures or (is_number(value) and value != 0)
        return value

    view = present(page_data, None, "")
    view["erp_url"] = erp_url(erp_base_url, erp_paths, page_id, page_data)
    view["has_figures"] = has_figures
    return view


def erp_url(base: str, erp_paths: dict[str, str], page_id: str, page_data: Mapping[str, Any]) -> str:
    """{base}/sales/{sales_org_cd}/{page path}?period=..., every component URL-encoded."""
    parts = urlsplit(base) if isinstance(base, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise Problem(f"erp_base_url {base!r} must be an http(s) URL without query or fragment")
    if not isinstance(erp_paths.get(page_id), str):
        raise Problem(f"scenario.json has no ERP path for page {page_id!r}")
    org, period = page_data.get("sales_org_cd"), page_data.get("period")
    for field, value in (("sales_org_cd", org), ("period", period)):
        if not isinstance(value, str) or not value:
            raise Problem(f"page field {field!r} must be a non-empty string for the ERP link, got {value!r}")
    segments = "/".join(quote(seg, safe="") for seg in ["sales", org, *erp_paths[page_id].split("/")])
    return f"{base.rstrip('/')}/{segments}?{urlencode({'period': period})}"
