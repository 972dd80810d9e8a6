"""The view model a template binds against: page data with formatted fields and the ERP link.

What scenario.json declares (``files.ScenarioSpec``) shapes the view:

- every field with a format becomes ``{"raw": value, "text": formatted}`` in the card's
  locale; an amount also gets ``"compact"`` (``US$1.84M``, ``₩2.58억``) for narrow places;
- ``optional`` fields a page or a list entry lacks are null in the view, so a template can
  guard them with ``exists()`` and still render pages made before the fields existed;
- a ``lists`` field ``x`` also appears as ``x_rows``, its first entries ``per_row`` a row
  (``[{"entries": [...], "fill": [{}, ...]}, ...]``; ``fill`` has an empty object for each
  place the last row leaves empty, so that its columns keep the others' widths), and as
  ``x_more``, the number of entries left out as a count field, or null when none are;
- ``back`` (pages of a kind with a ``back`` rule): the Back action's target, ``[]`` or
  ``[{"page_id": the rule's field's first page id, "key": that page's key}]``; a page's key
  comes from ``page_keys`` (see ``page_keys()``), null when the caller did not pass them;
- ``erp_url`` is the page's ERP link; ``has_figures`` is false when the page holds no
  non-zero number and no list row with figures (the honest "no data" state), and
  ``has_figures_in`` says the same of each of the page's fields (``has_figures_in.orders``
  is false when every order sum is 0: "no orders").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from include.cards.errors import Problem
from include.cards.files import ScenarioSpec
from include.cards.formatting import Formatter, is_number

VIEW_KEYS = ("labels", "erp_url", "has_figures", "has_figures_in", "back")
_NUMBERED_PAGE = re.compile(r"(.+)_\d+")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")


def view_model(
    page_data: Mapping[str, Any],
    page_id: str,
    spec: ScenarioSpec,
    labels: dict,
    locale: str,
    erp_base_url: str,
    page_keys: Mapping[str, str] | None = None,
) -> dict:
    formats, optional_in_entries, lists = spec.formats, spec.optional["entries"], spec.lists
    formatter = Formatter(locale, page_data.get("currency"), labels)
    found = False  # a figure in the field being presented

    def present(value: Any, key: str | None, where: str) -> Any:
        nonlocal found
        kind = formats.get(key) if key is not None else None
        if kind is not None:
            found = found or (is_number(value) and value != 0)
            return formatter.field(kind, value, where)
        if isinstance(value, Mapping):
            # Most values are codes and names: kept as they are without a call (a run presents
            # millions of fields).
            return {
                k: v if type(v) is str and k not in formats else present(v, k, f"{where}.{k}" if where else k)
                for k, v in value.items()
            }
        if isinstance(value, list):
            shown = []
            for i, item in enumerate(value):
                item_where = f"{where}[{i}]"
                if isinstance(item, Mapping):
                    found = found or any(k in formats for k in item)
                    entry = present(item, None, item_where)
                    for name in optional_in_entries:
                        entry.setdefault(name, None)
                    add_list_views(entry, item_where)
                    shown.append(entry)
                else:
                    shown.append(present(item, None, item_where))
            return shown
        found = found or (is_number(value) and value != 0)
        return value

    def add_list_views(view: dict, where: str) -> None:
        for name, list_view in lists.items():
            if name not in view:
                continue
            for derived in (f"{name}_rows", f"{name}_more"):
                if derived in view:
                    raise Problem(
                        f"field {where + '.' if where else ''}{derived} clashes with the view of list {name!r}"
                    )
            entries = view[name] or []
            if not isinstance(entries, list):
                raise Problem(f"field {where + '.' if where else ''}{name} must be a list or null, got {entries!r}")
            first = entries[: list_view.first]
            view[f"{name}_rows"] = [
                {"entries": row, "fill": [{}] * (list_view.per_row - len(row))}
                for row in (first[i : i + list_view.per_row] for i in range(0, len(first), list_view.per_row))
            ]
            more = len(entries) - len(first)
            view[f"{name}_more"] = {"raw": more, "text": formatter.format("count", more, name)} if more else None

    view, has_figures_in = {}, {}
    for key, value in page_data.items():
        found = False
        view[key] = present(value, key, key)
        has_figures_in[key] = found
    for name in spec.optional["page"]:
        view.setdefault(name, None)
    add_list_views(view, "")
    back_field = spec.back.get(page_kind(page_id))
    if back_field is not None:
        targets = page_data.get(back_field) or []
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise Problem(f"field {back_field} must be a list of page ids for the Back action, got {targets!r}")
        view["back"] = [{"page_id": targets[0], "key": (page_keys or {}).get(targets[0])}] if targets else []
    view["erp_url"] = erp_url(erp_base_url, spec.erp_paths, page_id, page_data)
    view["has_figures"] = any(has_figures_in.values())
    view["has_figures_in"] = has_figures_in
    return view


def page_kind(page_id: str) -> str:
    """``account_detail_3`` → ``account_detail``; a page id without a number is its own kind."""
    numbered = _NUMBERED_PAGE.fullmatch(page_id)
    return numbered.group(1) if numbered else page_id


def page_keys(spec: ScenarioSpec, pages: Mapping[str, Any]) -> dict[str, str]:
    """Each page's key (docs/contracts/daily-brief.md, "A page's key"): page id -> the code
    of its kind's ``page_keys`` field. Only pages of those kinds have one."""
    keys = {}
    for page_id, page in pages.items():
        field = spec.page_keys.get(page_kind(page_id))
        if field is not None and isinstance(page, Mapping) and isinstance(page.get(field), str):
            keys[page_id] = page[field]
    return keys


def erp_url(base: str, erp_paths: dict[str, str], page_id: str, page_data: Mapping[str, Any]) -> str:
    """{base}/sales/{sales_org_cd}/{page path}?period=..., every component URL-encoded.

    The path is the page id's, else its kind's (``account_detail`` for ``account_detail_3``);
    a ``{field}`` segment is that page field's value as one segment (``WF45B6300AP/US`` →
    ``WF45B6300AP%2FUS``)."""
    path = erp_paths.get(page_id, erp_paths.get(page_kind(page_id)))
    if not isinstance(path, str):
        raise Problem(f"scenario.json has no ERP path for page {page_id!r}")
    fields = {"sales_org_cd": page_data.get("sales_org_cd"), "period": page_data.get("period")}
    fields.update((name, page_data.get(name)) for name in _PLACEHOLDER.findall(path))
    for field, value in fields.items():
        if not isinstance(value, str) or not value:
            raise Problem(f"page field {field!r} must be a non-empty string for the ERP link, got {value!r}")
    return _erp_link(base, path, tuple(fields.items()))


@lru_cache(maxsize=4096)
def _erp_link(base: str, path: str, fields: tuple[tuple[str, str], ...]) -> str:
    """Cached: urllib's parsing and quoting cost more than the rest of a small card's view."""
    parts = urlsplit(base) if isinstance(base, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise Problem(f"erp_base_url {base!r} must be an http(s) URL without query or fragment")
    values = dict(fields)
    segments = ["sales", values["sales_org_cd"]]
    for segment in path.split("/"):
        placeholder = _PLACEHOLDER.fullmatch(segment)
        segments.append(values[placeholder.group(1)] if placeholder else segment)
    query = urlencode({"period": values["period"]})
    return f"{base.rstrip('/')}/{'/'.join(quote(seg, safe='') for seg in segments)}?{query}"
