"""Page definitions: how step outputs are shaped into each page's JSON.

A page is one of:

- an object — `fields:` mapping field names to field specs;
- a list — `list: F` with `fields:`, one object per audience row of F (the contract's
  `accounts` and `product_groups` pages are lists);
- repeated — `each: F`, `page_id: c` and `fields:`: one object page per audience row of F,
  named by the row's text column c. The page's `id` is the pages' kind: every name must be
  `<id>_<n>` (n = 1, 2, …), e.g. `account_detail_3`; an audience without rows gets none.

Field specs:

- `{context: sales_org_cd | currency | period | as_of}`: the run's context for the audience's org;
- `{subscriber: display_name | user_id | locale}`: the value of the subscriber row itself —
  the one thing that differs between users of an audience; only among an object page's own
  fields. The engine computes pages per audience and fills these per user (`personal`);
- `{frame: F, column: c}`: one value of a frame with one row per audience (from `total`);
- `{frame: F, fields: {...}}`: an object from that row;
- `{frame: F, match: [columns], fields: {...}}`, inside a row: an object from the first row
  of F whose match columns equal the row's, or null when there is none;
- `{fields: {...}}`, inside a row: an object made of that same row's columns;
- `{list: F, fields: {...}}`: the audience's rows of F, in F's order; nested inside another
  row it needs `match: [columns]` and lists only the rows whose match columns equal the
  parent row's;
- `{list: F, value: c}` (with `match` inside a row, likewise): the column's values of those
  rows, a list of plain values.

Inside `fields`, a string names a column of the row; a mapping is a nested spec. Values are
written by kind: amounts rounded to 2 decimals, rates to 1, half away from zero; counts as
ints; text as str; null as None. `compile_page` checks a definition (preprocessor);
`PageRenderer` fills pages for a batch (engine).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from include.scenarios.model import AMOUNT, AUD, IDENTIFIER, RATE, RATIO, TEXT, FrameSchema, Problem
from include.scenarios.numbers import ExactScale, render_fraction

CONTEXT_KEYS = ("sales_org_cd", "currency", "period", "as_of")
SUBSCRIBER_KEYS = ("display_name", "user_id", "locale")
OUTPUT_PLACES = {AMOUNT: 2, RATE: 1, RATIO: 1}
PAGE_KIND = re.compile(r"^[a-z][a-z0-9_]*$")  # ids and kinds of pages: docs/contracts/daily-brief.md, Navigation


@dataclass(frozen=True)
class Context:
    key: str


@dataclass(frozen=True)
class SubscriberField:
    key: str


@dataclass(frozen=True)
class Value:
    frame: str
    column: str


@dataclass(frozen=True)
class Row:
    frame: str
    fields: dict[str, Any]  # name -> column name or nested node
    match: tuple[str, ...] = ()  # empty: the frame's one row per audience


@dataclass(frozen=True)
class Here:
    """An object of the enclosing row's own columns."""

    frame: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class RowList:
    frame: str
    fields: dict[str, Any]
    match: tuple[str, ...]


@dataclass(frozen=True)
class ValueList:
    frame: str
    column: str
    match: tuple[str, ...]


@dataclass(frozen=True)
class Repeated:
    """The body of a repeated page: one page per row of `frame`, named by `id_column`."""

    kind: str
    frame: str
    id_column: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class PageDef:
    id: str  # a repeated page's kind
    body: dict[str, Any] | RowList | Repeated  # an object page's fields, a list page's rows, or repeated pages
    personal: tuple[tuple[str, str], ...] = field(default=())  # (field, subscriber key) filled per user

    @property
    def repeated(self) -> bool:
        return isinstance(self.body, Repeated)


_Parent = tuple[str, FrameSchema]  # the frame whose row a spec sits in, and its schema


def compile_page(page_id: str, definition: dict[str, Any], frames: dict[str, FrameSchema]) -> PageDef:
    """Check a page (`{fields}`, `{list, fields}` or `{each, page_id, fields}`) against the
    frames the steps produce."""
    if "list" in definition:
        return PageDef(page_id, _compile_spec(definition, frames, None, page_id))
    if "each" in definition:
        if not PAGE_KIND.match(page_id):
            raise Problem(f"id of a repeated page must be lower-case letters, digits and _, got {page_id!r}")
        schema = _frame(frames, definition["each"], "each")
        id_column = definition["page_id"]
        if schema.kind(id_column, "page_id") != TEXT:
            raise Problem(f"page_id {id_column!r} must be a text column of {definition['each']!r}")
        fields = _compile_fields(definition["fields"], frames, (definition["each"], schema), "")
        return PageDef(page_id, Repeated(page_id, definition["each"], id_column, fields))
    body = _compile_fields(definition["fields"], frames, None, "")
    personal = tuple((name, node.key) for name, node in body.items() if isinstance(node, SubscriberField))
    return PageDef(page_id, body, personal)


def _compile_fields(fields: Any, frames: dict[str, FrameSchema], row: _Parent | None, path: str) -> dict[str, Any]:
    if not isinstance(fields, dict) or not fields:
        raise Problem(f"fields{' of ' + repr(path) if path else ''} must be a non-empty mapping")
    compiled = {}
    for name, spec in fields.items():
        here = f"{path}.{name}" if path else str(name)
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            raise Problem(f"field name {name!r} must start with a letter and hold only letters, digits and _")
        if isinstance(spec, str):
            if row is None:
                raise Problem(f"field {here!r}: a column name is only allowed inside a frame's or list's fields")
            row[1].kind(spec, f"field {here!r}")
            compiled[name] = spec
        else:
            compiled[name] = _compile_spec(spec, frames, row, here, top=not path)
    return compiled


def _frame(frames: dict[str, FrameSchema], name: Any, here: str) -> FrameSchema:
    if name not in frames:
        raise Problem(f"field {here!r}: unknown frame {name!r}; known: {', '.join(frames)}")
    return frames[name]


_SHAPES = {
    ("context",),
    ("subscriber",),
    ("column", "frame"),
    ("fields", "frame"),
    ("fields", "frame", "match"),
    ("fields",),
    ("fields", "list"),
    ("fields", "list", "match"),
    ("list", "value"),
    ("list", "match", "value"),
}


def _compile_spec(spec: Any, frames: dict[str, FrameSchema], row: _Parent | None, here: str, top: bool = False) -> Any:
    if not isinstance(spec, dict) or tuple(sorted(spec)) not in _SHAPES:
        raise Problem(
            f"field {here!r} must be a column name or one of {{context}}, {{subscriber}}, {{frame, column}}, "
            f"{{frame, fields[, match]}}, {{fields}}, {{list, fields[, match]}}, {{list, value[, match]}}; got {spec!r}"
        )
    if "context" in spec:
        if spec["context"] not in CONTEXT_KEYS:
            raise Problem(f"field {here!r}: unknown context {spec['context']!r}; known: {', '.join(CONTEXT_KEYS)}")
        return Context(spec["context"])
    if "subscriber" in spec:
        if spec["subscriber"] not in SUBSCRIBER_KEYS:
            raise Problem(
                f"field {here!r}: unknown subscriber field {spec['subscriber']!r}; known: {', '.join(SUBSCRIBER_KEYS)}"
            )
        if row is not None or not top:
            raise Problem(f"field {here!r}: {{subscriber}} is only allowed among an object page's own fields")
        return SubscriberField(spec["subscriber"])
    if "frame" not in spec and "list" not in spec:  # {fields}: the enclosing row's columns
        if row is None:
            raise Problem(f"field {here!r}: {{fields}} alone is only allowed inside a frame's or list's fields")
        return Here(row[0], _compile_fields(spec["fields"], frames, row, here))
    name = spec.get("frame", spec.get("list"))
    schema = _frame(frames, name, here)
    match = _match(spec.get("match"), schema, row, here)
    if "list" in spec and row is not None and not match:
        raise Problem(f"field {here!r}: a list inside a row needs match: [columns] to pick that row's items")
    if "frame" in spec and not match:
        if not schema.per_audience:
            raise Problem(
                f"field {here!r}: frame {name!r} may hold several rows per audience; "
                "a single value or object needs a `total` (or a derive of one), or match: [columns] inside a row"
            )
        if "column" in spec:
            schema.kind(spec["column"], f"field {here!r}")
            return Value(name, spec["column"])
        return Row(name, _compile_fields(spec["fields"], frames, (name, schema), here))
    if "frame" in spec:
        return Row(name, _compile_fields(spec["fields"], frames, (name, schema), here), match)
    if "value" in spec:
        schema.kind(spec["value"], f"value of {here!r}")
        return ValueList(name, spec["value"], match)
    return RowList(name, _compile_fields(spec["fields"], frames, (name, schema), here), match)


def _match(match: Any, schema: FrameSchema, row: _Parent | None, here: str) -> tuple[str, ...]:
    """The checked match columns of a spec (empty when it has none)."""
    if row is None and match is not None:
        raise Problem(f"field {here!r}: match is only allowed on a list or frame nested in another frame's row")
    if match is None:
        return ()
    if not isinstance(match, list) or not match:
        raise Problem(f"field {here!r}: match must be a non-empty list of column names")
    for column in match:
        kind = schema.kind(column, f"match of {here!r}")
        if row[1].kind(column, f"match of {here!r} (parent row)") != kind or kind != TEXT:
            raise Problem(f"field {here!r}: match column {column!r} must be text in both frames")
    return tuple(match)


def _output_values(values: pd.Series, kind: str, scale: ExactScale) -> list[Any]:
    if kind in (AMOUNT, RATE):
        return scale.render(values, OUTPUT_PLACES[kind])
    if kind == RATIO:
        return [render_fraction(None if pd.isna(v) else v, OUTPUT_PLACES[kind]) for v in values.tolist()]
    # counts (int64) and text: Python ints / strs from tolist(), null as None
    return values.astype(object).where(values.notna(), None).tolist()


class PageRenderer:
    """Fills every page of a scenario for any audience of a computed batch.

    Each list or object is built once for all rows of its frame (column by column), then
    filed under its audience (and match keys), so rendering one audience is lookups only.
    `{subscriber}` fields are left None: the engine fills them per user (PageDef.personal).
    """

    def __init__(
        self,
        pages: tuple[PageDef, ...],
        frames: dict[str, pd.DataFrame],
        schemas: dict[str, FrameSchema],
        scale: ExactScale,
        contexts: list[dict[str, Any]],
    ):
        """`contexts[aud]` holds the CONTEXT_KEYS values of audience number `aud`."""
        self._pages, self._frames, self._schemas, self._scale = pages, frames, schemas, scale
        self._contexts = contexts
        self._columns: dict[tuple[str, str], list[Any]] = {}
        self._built: dict[int, dict[tuple[Any, ...], Any]] = {}  # id(node) -> (aud, *match) -> value

    def render(self, aud: int) -> dict[str, Any]:
        """Every page of audience `aud`, in order: a repeated page as its pages of the audience."""
        pages: dict[str, Any] = {}
        for page in self._pages:
            if isinstance(page.body, Repeated):
                pages.update(self._by_key(page.body).get((aud,), ()))
            else:
                pages[page.id] = self._page(page.body, aud)
        return pages

    def _page(self, body: dict[str, Any] | RowList, aud: int) -> Any:
        if isinstance(body, RowList):
            return self._value(body, aud)
        return {name: self._value(spec, aud) for name, spec in body.items()}

    def _value(self, node: Any, aud: int) -> Any:
        if isinstance(node, Context):
            return self._contexts[aud][node.key]
        if isinstance(node, SubscriberField):
            return None
        if isinstance(node, RowList | ValueList):
            return list(self._by_key(node).get((aud,), ()))
        return self._by_key(node)[(aud,)]

    def _column(self, frame: str, column: str) -> list[Any]:
        """A column as page values (the audience column as plain ints), computed once."""
        if (frame, column) not in self._columns:
            values = self._frames[frame][column]
            self._columns[frame, column] = (
                values.tolist()
                if column == AUD
                else _output_values(values, self._schemas[frame].columns[column], self._scale)
            )
        return self._columns[frame, column]

    def _keys(self, frame: str, match: tuple[str, ...]) -> list[tuple[Any, ...]]:
        return list(zip(self._column(frame, AUD), *[self._column(frame, c) for c in match]))

    def _by_key(self, node: Value | Row | RowList | ValueList | Repeated) -> dict[tuple[Any, ...], Any]:
        """The node's value for every audience (and match key) at once."""
        if id(node) in self._built:
            return self._built[id(node)]
        keys = self._keys(node.frame, getattr(node, "match", ()))
        built: dict[tuple[Any, ...], Any]
        if isinstance(node, Value):
            built = dict(zip(keys, self._column(node.frame, node.column)))
        elif isinstance(node, Row) and not node.match:
            built = dict(zip(keys, self._rows(node)))
        elif isinstance(node, Row):
            built = {}
            for key, row in zip(keys, self._rows(node)):
                built.setdefault(key, row)  # the first matching row
        else:
            if isinstance(node, ValueList):
                items: list[Any] = self._column(node.frame, node.column)
            elif isinstance(node, Repeated):
                items = list(zip(self._page_ids(node), self._rows(node)))
            else:
                items = self._rows(node)
            built = {}
            for key, item in zip(keys, items):
                built.setdefault(key, []).append(item)
        self._built[id(node)] = built
        return built

    def _page_ids(self, node: Repeated) -> list[str]:
        """The page ids of a repeated page's rows; a scenario whose ids are not `<kind>_<n>`,
        or repeat within an audience, is wrong: ValueError naming the page."""
        frame = self._frames[node.frame]
        ids = frame[node.id_column]
        wrong = ids.isna() | ~ids.astype("str").str.fullmatch(re.escape(node.kind) + r"_[1-9][0-9]*").fillna(False)
        if wrong.any():
            raise ValueError(
                f"page {node.kind!r}: page_id {node.id_column!r} of frame {node.frame!r} holds "
                f"{ids[wrong].iloc[0]!r}; every id must be {node.kind}_<n> (n = 1, 2, …)"
            )
        repeated = frame.duplicated([AUD, node.id_column])
        if repeated.any():
            raise ValueError(
                f"page {node.kind!r}: page id {ids[repeated].iloc[0]!r} appears twice for one audience"
                f" in {node.frame!r}"
            )
        return self._column(node.frame, node.id_column)

    def _rows(self, node: Row | Here | RowList | Repeated) -> list[dict[str, Any]]:
        """One output object per row of the node's frame."""
        auds = self._column(node.frame, AUD)
        columns: list[list[Any]] = []
        for spec in node.fields.values():
            if isinstance(spec, str):
                columns.append(self._column(node.frame, spec))
            elif isinstance(spec, Here):
                columns.append(self._rows(spec))
            elif isinstance(spec, RowList | ValueList) or (isinstance(spec, Row) and spec.match):
                children = self._by_key(spec)
                parent_keys = zip(auds, *[self._column(node.frame, c) for c in spec.match])
                if isinstance(spec, Row):
                    columns.append([children.get(key) for key in parent_keys])
                else:
                    columns.append([list(children.get(key, ())) for key in parent_keys])
            else:
                columns.append([self._value(spec, aud) for aud in auds])
        names = list(node.fields)
        return [dict(zip(names, values)) for values in zip(*columns)]
