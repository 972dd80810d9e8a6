"""Page definitions: how step outputs are shaped into each page's JSON.

A page is either an object — `fields:` mapping field names to field specs — or a list —
`list: F` with `fields:`, one object per audience row of F (the contract's `accounts` and
`product_groups` pages are lists). Field specs:

- `{context: sales_org_cd | currency | period | as_of}`: the run's context for the audience's org;
- `{frame: F, column: c}`: one value of a frame with one row per audience (from `total`);
- `{frame: F, fields: {...}}`: an object from that row;
- `{list: F, fields: {...}}`: the audience's rows of F, in F's order; nested inside another
  row it needs `match: [columns]` and lists only the rows whose match columns equal the
  parent row's.

Inside `fields`, a string names a column of the row; a mapping is a nested spec. Values are
written by kind: amounts rounded to 2 decimals, rates to 1, half away from zero; counts as
ints; text as str; null as None. `compile_page` checks a definition (preprocessor);
`PageRenderer` fills pages for a batch (engine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from include.scenarios.model import AMOUNT, AUD, IDENTIFIER, RATE, RATIO, TEXT, FrameSchema, Problem
from include.scenarios.numbers import ExactScale, render_fraction

CONTEXT_KEYS = ("sales_org_cd", "currency", "period", "as_of")
OUTPUT_PLACES = {AMOUNT: 2, RATE: 1, RATIO: 1}


@dataclass(frozen=True)
class Context:
    key: str


@dataclass(frozen=True)
class Value:
    frame: str
    column: str


@dataclass(frozen=True)
class Row:
    frame: str
    fields: dict[str, Any]  # name -> column name or nested node


@dataclass(frozen=True)
class RowList:
    frame: str
    fields: dict[str, Any]
    match: tuple[str, ...]


@dataclass(frozen=True)
class PageDef:
    id: str
    body: dict[str, Any] | RowList  # an object page's fields, or a list page's rows


def compile_page(page_id: str, definition: dict[str, Any], frames: dict[str, FrameSchema]) -> PageDef:
    """Check a page (`{fields}` or `{list, fields}`) against the frames the steps produce."""
    if "list" in definition:
        return PageDef(page_id, _compile_spec(definition, frames, None, page_id))
    return PageDef(page_id, _compile_fields(definition["fields"], frames, None, ""))


def _compile_fields(fields: Any, frames: dict[str, FrameSchema], row: FrameSchema | None, path: str) -> dict[str, Any]:
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
            row.kind(spec, f"field {here!r}")
            compiled[name] = spec
        else:
            compiled[name] = _compile_spec(spec, frames, row, here)
    return compiled


def _frame(frames: dict[str, FrameSchema], name: Any, here: str) -> FrameSchema:
    if name not in frames:
        raise Problem(f"field {here!r}: unknown frame {name!r}; known: {', '.join(frames)}")
    return frames[name]


def _compile_spec(spec: Any, frames: dict[str, FrameSchema], row: FrameSchema | None, here: str) -> Any:
    shapes = {("context",), ("column", "frame"), ("fields", "frame"), ("fields", "list"), ("fields", "list", "match")}
    if not isinstance(spec, dict) or tuple(sorted(spec)) not in shapes:
        raise Problem(
            f"field {here!r} must be a column name or one of {{context}}, {{frame, column}}, "
            f"{{frame, fields}}, {{list, fields[, match]}}; got {spec!r}"
        )
    if "context" in spec:
        if spec["context"] not in CONTEXT_KEYS:
            raise Problem(f"field {here!r}: unknown context {spec['context']!r}; known: {', '.join(CONTEXT_KEYS)}")
        return Context(spec["context"])
    if "frame" in spec:
        schema = _frame(frames, spec["frame"], here)
        if not schema.per_audience:
            raise Problem(
                f"field {here!r}: frame {spec['frame']!r} may hold several rows per audience; "
                "a single value or object needs a `total` (or a derive of one)"
            )
        if "column" in spec:
            schema.kind(spec["column"], f"field {here!r}")
            return Value(spec["frame"], spec["column"])
        return Row(spec["frame"], _compile_fields(spec["fields"], frames, schema, here))
    schema = _frame(frames, spec["list"], here)
    match = spec.get("match")
    if row is None and match is not None:
        raise Problem(f"field {here!r}: match is only allowed on a list nested in another frame's row")
    if row is not None and match is None:
        raise Problem(f"field {here!r}: a list inside a row needs match: [columns] to pick that row's items")
    if match is not None:
        if not isinstance(match, list) or not match:
            raise Problem(f"field {here!r}: match must be a non-empty list of column names")
        for column in match:
            kind = schema.kind(column, f"match of {here!r}")
            if row.kind(column, f"match of {here!r} (parent row)") != kind or kind != TEXT:
                raise Problem(f"field {here!r}: match column {column!r} must be text in both frames")
    return RowList(spec["list"], _compile_fields(spec["fields"], frames, schema, here), tuple(match or ()))


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

    def render(self, aud: int) -> dict[str, dict[str, Any]]:
        return {page.id: self._page(page.body, aud) for page in self._pages}

    def _page(self, body: dict[str, Any] | RowList, aud: int) -> Any:
        if isinstance(body, RowList):
            return self._value(body, aud)
        return {name: self._value(spec, aud) for name, spec in body.items()}

    def _value(self, node: Any, aud: int) -> Any:
        if isinstance(node, Context):
            return self._contexts[aud][node.key]
        if isinstance(node, RowList):
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

    def _by_key(self, node: Value | Row | RowList) -> dict[tuple[Any, ...], Any]:
        """The node's value for every audience (and match key) at once."""
        if id(node) not in self._built:
            keys = list(
                zip(self._column(node.frame, AUD), *[self._column(node.frame, c) for c in getattr(node, "match", ())])
            )
            if isinstance(node, Value):
                self._built[id(node)] = dict(zip(keys, self._column(node.frame, node.column)))
            else:
                rows = self._rows(node)
                if isinstance(node, Row):
                    self._built[id(node)] = dict(zip(keys, rows))
                else:
                    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
                    for key, row in zip(keys, rows):
                        grouped.setdefault(key, []).append(row)
                    self._built[id(node)] = grouped
        return self._built[id(node)]

    def _rows(self, node: Row | RowList) -> list[dict[str, Any]]:
        """One output object per row of the node's frame."""
        auds = self._column(node.frame, AUD)
        columns: list[list[Any]] = []
        for spec in node.fields.values():
            if isinstance(spec, str):
                columns.append(self._column(node.frame, spec))
            elif isinstance(spec, RowList):
                children = self._by_key(spec)
                parent_keys = zip(auds, *[self._column(node.frame, c) for c in spec.match])
                columns.append([list(children.get(key, ())) for key in parent_keys])
            else:
                columns.append([self._value(spec, aud) for aud in auds])
        names = list(node.fields)
        return [dict(zip(names, values)) for values in zip(*columns)]
