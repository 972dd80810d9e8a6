"""The action registry: the one place where scenario actions are defined.

A scenario step names an action and gives its arguments; the step's output is a new frame
named by the step's id. Every frame holds rows of all audiences of the batch at once,
keyed by the `_aud` column, and every action works per audience implicitly (sums never mix
audiences, ranks and limits apply per audience). That is what lets one pandas pass serve a
whole batch of subscribers.

To add an action, write a class with `output` (check the arguments against the input
frames' schemas, return the output schema; raise `Problem` otherwise) and `run` (compute
the frame), and register it with `@action(name, **params)`. Nothing else changes.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
import pandas as pd

from include.scenarios.model import (
    AMOUNT,
    AUD,
    COUNT,
    IDENTIFIER,
    NUMERIC_KINDS,
    RATE,
    RATIO,
    TEXT,
    FrameSchema,
    Problem,
)
from include.scenarios.numbers import ExactScale, fraction_ranks
from include.scenarios.sources import SOURCES


class RunContext(Protocol):
    """What an action may use while running (provided by the engine)."""

    frames: dict[str, pd.DataFrame]
    scale: ExactScale
    audience_count: int

    def read(self, source: str) -> pd.DataFrame:
        """The source's rows each audience may see: `_aud` plus the contract headers, exact units."""
        ...


# --- argument types: each checks the shape of one argument and returns a problem or None ---

ArgCheck = Callable[[Any], str | None]


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def NAME(value: Any) -> str | None:
    return None if _is_name(value) else "must be a non-empty string"


def NAMES(value: Any) -> str | None:
    ok = isinstance(value, list) and value and all(_is_name(v) for v in value)
    return None if ok else "must be a non-empty list of strings"


def NAME_MAP(value: Any) -> str | None:
    ok = isinstance(value, dict) and value and all(_is_name(k) and _is_name(v) for k, v in value.items())
    return None if ok else "must be a non-empty mapping of strings to strings"


def POSITIVE_INT(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return None if ok else "must be a whole number above 0"


def EXPRESSIONS(value: Any) -> str | None:
    ok = (
        isinstance(value, dict)
        and value
        and all(_is_name(k) and isinstance(v, dict) and len(v) == 1 for k, v in value.items())
    )
    return None if ok else "must be a non-empty mapping of new column names to {operation: [arguments]}"


def one_of(*choices: str) -> ArgCheck:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of: {', '.join(choices)}"

    return check


@dataclass(frozen=True)
class Param:
    check: ArgCheck
    required: bool = True


def optional(check: ArgCheck) -> Param:
    return Param(check, required=False)


@dataclass(frozen=True)
class ActionDef:
    name: str
    params: dict[str, Param]
    output: Callable[[dict[str, Any], dict[str, FrameSchema]], FrameSchema]
    run: Callable[[dict[str, Any], RunContext, FrameSchema], pd.DataFrame]  # gets its own output schema
    literals: Callable[[dict[str, Any]], list[Decimal]]


REGISTRY: dict[str, ActionDef] = {}


def action(name: str, **params: ArgCheck | Param) -> Callable[[type], type]:
    """Register an action class under `name`; params map argument names to their checks."""

    def register(cls: type) -> type:
        REGISTRY[name] = ActionDef(
            name=name,
            params={k: v if isinstance(v, Param) else Param(v) for k, v in params.items()},
            output=cls.output,
            run=cls.run,
            literals=getattr(cls, "literals", lambda args: []),
        )
        return cls

    return register


# --- helpers shared by actions ---


def input_frame(frames: dict[str, FrameSchema], name: str, arg: str = "frame") -> FrameSchema:
    if name not in frames:
        raise Problem(f"unknown frame {name!r} in {arg}; known: {', '.join(frames) or '(none)'}")
    return frames[name]


def require_kind(schema: FrameSchema, column: str, where: str, kinds: tuple[str, ...]) -> str:
    kind = schema.kind(column, where)
    if kind not in kinds:
        raise Problem(f"column {column!r} in {where} is {kind}; {where} needs {' or '.join(kinds)}")
    return kind


def new_column_name(name: str, where: str) -> None:
    if not IDENTIFIER.match(name):
        raise Problem(f"{where} name {name!r} must start with a letter and hold only letters, digits and _")


def number_literal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Problem(f"{where} must be a number, got {value!r}")
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def literal_for(kind: str, value: Decimal | str, scale: ExactScale) -> Any:
    """A checked literal in the representation of a column of `kind`."""
    if kind == TEXT:
        return value
    if kind in (AMOUNT, RATE):
        return scale.literal(value)
    if kind == RATIO:
        return Fraction(value)
    return int(value)


def check_literal(kind: str, value: Decimal | str, where: str) -> None:
    shown = repr(value) if isinstance(value, str) else str(value)
    if (kind == TEXT) != isinstance(value, str) or (kind == COUNT and value != value.to_integral_value()):  # type: ignore[union-attr]
        raise Problem(f"{where}: {shown} cannot stand for a value of a {kind} column")


def null_mask(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return frame[columns].isna().any(axis=1).to_numpy()


# --- filter conditions: "column op literal" or "column is [not] null" ---

_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_NULL_TEST = re.compile(r"^\s*(\w+)\s+is\s+(not\s+)?null\s*$")
_COMPARISON = re.compile(r"^\s*(\w+)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_STRING = re.compile(r"^'([^']*)'$|^\"([^\"]*)\"$")


@dataclass(frozen=True)
class Condition:
    column: str
    op: str  # a comparison, "is null" or "is not null"
    literal: Decimal | str | None


def parse_condition(text: Any) -> Condition:
    if not isinstance(text, str):
        raise Problem(f'condition {text!r} in where must be a string like "target != 0"')
    if m := _NULL_TEST.match(text):
        return Condition(m.group(1), "is not null" if m.group(2) else "is null", None)
    m = _COMPARISON.match(text)
    if not m:
        raise Problem(
            f"condition {text!r} in where is not 'column OP literal' (OP: == != < <= > >=) or 'column is [not] null'"
        )
    column, op, raw = m.groups()
    if _NUMBER.match(raw):
        return Condition(column, op, Decimal(raw))
    if s := _STRING.match(raw):
        return Condition(column, op, s.group(1) if s.group(1) is not None else s.group(2))
    raise Problem(f"condition {text!r} in where: {raw!r} is neither a number nor a quoted string")


def _condition_mask(frame: pd.DataFrame, cond: Condition, kind: str, scale: ExactScale) -> np.ndarray:
    """Rows meeting the condition; a null never meets a comparison."""
    present = frame[cond.column].notna().to_numpy()
    if cond.op == "is null":
        return ~present
    if cond.op == "is not null":
        return present
    values = frame[cond.column].where(present, "" if kind == TEXT else 0)
    result = _COMPARISONS[cond.op](values, literal_for(kind, cond.literal, scale))
    return present & np.asarray(result, dtype=bool)


# --- the actions ---


@action("scope", source=NAME, columns=NAME_MAP)
class Scope:
    """Rows of a T2A source that each audience may see, with chosen columns renamed.

    The entitlement (S, A, P) is applied by the engine from the source catalog, so a
    scenario cannot read a source unfiltered. `columns` maps new names to contract headers.
    """

    @staticmethod
    def output(args: dict[str, Any], frames: dict[str, FrameSchema]) -> FrameSchema:
        source = SOURCES.get(args["source"])
        if source is None:
            raise Problem(f"unknown source {args['source']!r}; known: {', '.join(SOURCES)}")
        columns = {}
        for name, header in args["columns"].items():
            new_column_name(name, "columns")
            if header not in source.columns:
                raise Problem(
                    f"unknown column {header!r} of {source.name} in columns; known: {', '.join(source.columns)}"
                )
            columns[name] = source.columns[header]
        return FrameSchema(columns)

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        rows = ctx.read(args["source"])
        picked = {AUD: rows[AUD]} | {name: rows[header] for name, header in args["columns"].items()}
        return pd.DataFrame(picked).reset_index(drop=True)


@action("filter", frame=NAME, where=NAMES)
class Filter:
    """Rows meeting every condition (AND). Comparisons use exact values; null never matches."""

    @staticmethod
    def output(args: dict[str, Any], frames: dict[str, FrameSchema]) -> FrameSchema:
        schema = input_frame(frames, args["frame"])
        for text in args["where"]:
            cond = parse_condition(text)
            kind = schema.kind(cond.column, "where")
            if cond.literal is not None:
                check_literal(kind, cond.literal, f"condition {text!r}")
        return FrameSchema(schema.columns)

    @staticmethod
    def literals(args: dict[str, Any]) -> list[Decimal]:
        parsed = [parse_condition(text).literal for text in args["where"]]
        return [v for v in parsed if isinstance(v, Decimal)]

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        frame = ctx.frames[args["frame"]]
        keep = np.ones(len(frame), dtype=bool)
        for text in args["where"]:
            cond = parse_condition(text)
            keep &= _condition_mask(frame, cond, schema.columns[cond.column], ctx.scale)
        return frame[keep].reset_index(drop=True)


# derive operations: name -> (number of arguments or None for 2+, allowed kinds, result kind or None = same)
_DERIVE_OPS: dict[str, tuple[int | None, tuple[str, ...], str | None]] = {
    "add": (None, (COUNT, AMOUNT, RATE), None),
    "sub": (2, (COUNT, AMOUNT, RATE), None),
    "percent": (2, (COUNT, AMOUNT), RATIO),
    "coalesce": (2, (TEXT, *NUMERIC_KINDS), None),
}


@action("derive", frame=NAME, columns=EXPRESSIONS)
class Derive:
    """New columns, computed in the order given (a later one may use an earlier one).

    add/sub: null if any argument is null (use coalesce first to count null as 0);
    percent [a, b]: a / b × 100 as an exact ratio, null when b is 0 or null;
    coalesce [column, literal]: the column with nulls replaced by the literal.
    """

    @staticmethod
    def output(args: dict[str, Any], frames: dict[str, FrameSchema]) -> FrameSchema:
        schema = input_frame(frames, args["frame"])
        columns = dict(schema.columns)
        for name, expression in args["columns"].items():
            new_column_name(name, "columns")
            op, operands = next(iter(expression.items()))
            columns[name] = _derived_kind(name, op, operands, FrameSchema(columns))
        return FrameSchema(columns, schema.per_audience)

    @staticmethod
    def literals(args: dict[str, Any]) -> list[Decimal]:
        found = []
        for expression in args["columns"].values():
            op, operands = next(iter(expression.items()))
            if op == "coalesce" and not isinstance(operands[1], str):
                found.append(number_literal(operands[1], "coalesce"))
        return found

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        frame = ctx.frames[args["frame"]].copy()
        for name, expression in args["columns"].items():
            op, operands = next(iter(expression.items()))
            frame[name] = _derive(frame, op, operands, schema.columns[name], ctx.scale)
        return frame


def _derived_kind(name: str, op: str, operands: Any, schema: FrameSchema) -> str:
    where = f"columns.{name}"
    if op not in _DERIVE_OPS:
        raise Problem(f"unknown operation {op!r} in {where}; known: {', '.join(_DERIVE_OPS)}")
    arity, kinds, result = _DERIVE_OPS[op]
    if not isinstance(operands, list) or (len(operands) != arity if arity else len(operands) < 2):
        wanted = f"exactly {arity}" if arity else "at least 2"
        raise Problem(f"{op} in {where} takes a list of {wanted} arguments, got {operands!r}")
    if op == "coalesce":
        kind = require_kind(schema, operands[0], where, kinds)
        literal = operands[1] if isinstance(operands[1], str) else number_literal(operands[1], f"{where} literal")
        check_literal(kind, literal, f"coalesce in {where}")
        return kind
    found = {require_kind(schema, column, where, kinds) for column in operands}
    if len(found) > 1:
        raise Problem(f"{op} in {where} mixes kinds {sorted(found)} of {operands}")
    return result or found.pop()


def _derive(frame: pd.DataFrame, op: str, operands: list[Any], kind: str, scale: ExactScale) -> pd.Series:
    """The values of a derived column of `kind` (the kind checked by the preprocessor)."""
    if op == "coalesce":
        column, literal = operands
        value = literal if isinstance(literal, str) else literal_for(kind, number_literal(literal, op), scale)
        return frame[column].where(frame[column].notna(), value)
    missing = null_mask(frame, operands)
    values = [frame[c].where(~missing, 0) for c in operands]
    if op == "percent":
        numerators, denominators = values[0].tolist(), values[1].tolist()
        ratios = [
            None if skip or b == 0 else Fraction(int(a) * 100, int(b))
            for a, b, skip in zip(numerators, denominators, missing)
        ]
        return pd.Series(ratios, index=frame.index, dtype=object)
    total = values[0] - values[1] if op == "sub" else sum(values[1:], values[0])
    return total.mask(missing, pd.NA) if missing.any() else total


def _sum_columns(args: dict[str, Any], schema: FrameSchema) -> dict[str, str]:
    return {c: require_kind(schema, c, "sum", (AMOUNT, COUNT)) for c in args["sum"]}


def _summed(frame: pd.DataFrame, keys: list[str], sums: list[str]) -> pd.DataFrame:
    """Σ of `sums` per key; a null counts as 0 (docs/contracts/daily-brief.md: every row counts in its group)."""
    filled = frame[keys + sums].fillna(dict.fromkeys(sums, 0))
    return filled.groupby(keys, sort=False, dropna=False)[sums].sum()


@action("group", frame=NAME, by=NAMES, sum=NAMES)
class Group:
    """One row per audience and distinct `by` values, in order of first appearance, with sums."""

    @staticmethod
    def output(args: dict[str, Any], frames: dict[str, FrameSchema]) -> FrameSchema:
        schema = input_frame(frames, args["frame"])
        keys = {c: require_kind(schema, c, "by", (TEXT,)) for c in args["by"]}
        return FrameSchema(keys | _sum_columns(args, schema))

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        frame = ctx.frames[args["frame"]]
        return _summed(frame, [AUD] + args["by"], args["sum"]).reset_index()


@action("total", frame=NAME, sum=NAMES)
class Total:
    """Exactly one row per audience with sums; an audience without rows gets zeros."""

    @staticmethod
    def output(args: dict[str, Any], frames: dict[str, FrameSchema]) -> FrameSchema:
        return FrameSchema(_sum_columns(args, input_frame(frames, args["frame"])), per_audience=True)

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        sums = _summed(ctx.frames[args["frame"]], [AUD], args["sum"])
        return sums.reindex(pd.RangeIndex(ctx.audience_count, name=AUD), fill_value=0).reset_index()


_ORDER = re.compile(r"^\s*(\w+)(?:\s+(asc|desc))?\s*$")


def _order_keys(args: dict[str, Any]) -> list[tuple[str, bool]]:
    keys = []
    for text in args["order_by"]:
        m = _ORDER.match(text)
        if not m:
            raise Problem(f"order_by entry {text!r} is not 'column [asc|desc]'")
        keys.append((m.group(1), m.group(2) != "desc"))
    return keys


@action("rank", frame=NAME, order_by=NAMES, limit=optional(POSITIVE_INT), within=optional(NAMES))
class Rank:
    """Rows in order (per audience, and per `within` values), keeping the first `limit`.

    A row with a null in any order_by column is left out: it cannot be placed
    (docs/contracts/daily-brief.md: a row ranked on its own is dropped when a value its rank needs is null).
    Sorting is stable and exact; list every tie-break key in order_by.
    """

    @staticmethod
    def output(args: dict[str, Any], frames: dict[str, FrameSchema]) -> FrameSchema:
        schema = input_frame(frames, args["frame"])
        for column, _ in _order_keys(args):
            schema.kind(column, "order_by")
        for column in args.get("within", []):
            require_kind(schema, column, "within", (TEXT,))
        return FrameSchema(schema.columns)

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        frame = ctx.frames[args["frame"]]
        keys = _order_keys(args)
        within = args.get("within", [])
        frame = frame[~null_mask(frame, [c for c, _ in keys])].reset_index(drop=True)
        codes = [frame[AUD].to_numpy()] + [_sort_codes(frame[c], TEXT) for c in within]
        for column, ascending in keys:
            code = _sort_codes(frame[column], schema.columns[column])
            codes.append(code if ascending else -code)
        order = np.lexsort(codes[::-1]) if len(frame) else np.zeros(0, dtype="int64")
        if "limit" in args:
            order = order[_position_in_group([c[order] for c in codes[: 1 + len(within)]]) < args["limit"]]
        return frame.take(order).reset_index(drop=True)


def _position_in_group(sorted_group_codes: list[np.ndarray]) -> np.ndarray:
    """0, 1, 2, … within each run of equal group codes (rows already sorted by group)."""
    n = len(sorted_group_codes[0])
    starts_group = np.zeros(n, dtype=bool)
    starts_group[:1] = True
    for codes in sorted_group_codes:
        starts_group[1:] |= codes[1:] != codes[:-1]
    first = np.maximum.accumulate(np.where(starts_group, np.arange(n), 0))
    return np.arange(n) - first


def _sort_codes(values: pd.Series, kind: str) -> np.ndarray:
    """int64 codes that order exactly as the values do (equal values, equal codes)."""
    if kind == RATIO:
        return fraction_ranks(values.tolist())
    if values.dtype in ("int64", "Int64"):  # counts and 64-bit units sort as they are
        return values.to_numpy(dtype="int64")
    return pd.factorize(values, sort=True)[0].astype("int64")


@action("join", frame=NAME, to=NAME, keys=NAMES, how=one_of("semi", "inner"))
class Join:
    """Rows of `frame` matching `to` on the audience and the `keys` columns.

    (`keys`, not `on`: YAML reads a bare `on` as the boolean true.)

    semi keeps `frame`'s columns (rows whose keys appear in `to`); inner adds `to`'s other
    columns, one row per matching pair. Order follows `frame`.
    """

    @staticmethod
    def output(args: dict[str, Any], frames: dict[str, FrameSchema]) -> FrameSchema:
        left = input_frame(frames, args["frame"])
        right = input_frame(frames, args["to"], "to")
        for column in args["keys"]:
            kind = require_kind(left, column, "keys", (TEXT,))
            if right.kind(column, f"keys (frame {args['to']!r})") != kind:
                raise Problem(f"column {column!r} in keys is {kind} in {args['frame']!r} but not in {args['to']!r}")
        if args["how"] == "semi":
            return FrameSchema(left.columns)
        added = {c: k for c, k in right.columns.items() if c not in args["keys"]}
        clash = [c for c in added if c in left.columns]
        if clash:
            raise Problem(f"inner join would duplicate columns {clash}; rename them with a derive first")
        return FrameSchema(left.columns | added)

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        keys = [AUD] + args["keys"]
        right = ctx.frames[args["to"]]
        if args["how"] == "semi":
            right = right[keys].drop_duplicates()
        return ctx.frames[args["frame"]].merge(right, on=keys, how="inner", sort=False)
