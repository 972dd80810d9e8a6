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
from include.scenarios.sources import ACCOUNT, SOURCES


class RunContext(Protocol):
    """What an action may use while running (provided by the engine)."""

    frames: dict[str, pd.DataFrame]
    scale: ExactScale
    audience_count: int

    def read(self, source: str) -> pd.DataFrame:
        """The source's rows each audience may see: `_aud` plus the contract headers, exact units."""
        ...

    def accounts(self) -> pd.DataFrame:
        """Every audience's account codes (A), deduplicated and ascending: `_aud` and `GSCM Account`."""
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


def NUMBER(value: Any) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return None if ok else "must be a number"


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
    "format": (1, (TEXT, COUNT), TEXT),
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@action("derive", frame=NAME, columns=EXPRESSIONS)
class Derive:
    """New columns, computed in the order given (a later one may use an earlier one).

    add/sub: null if any argument is null (use coalesce first to count null as 0);
    percent [a, b]: a / b × 100 as an exact ratio, null when b is 0 or null;
    coalesce [column, literal]: the column with nulls replaced by the literal;
    format [template]: text with each `{column}` of the template replaced by that text or count
    column's value (e.g. "account_detail_{n}"), null if any of them is null.
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
    if op == "format":
        for column in _format_parts(operands[0], where)[1::2]:
            require_kind(schema, column, where, kinds)
        return TEXT
    found = {require_kind(schema, column, where, kinds) for column in operands}
    if len(found) > 1:
        raise Problem(f"{op} in {where} mixes kinds {sorted(found)} of {operands}")
    return result or found.pop()


def _format_parts(template: Any, where: str) -> list[str]:
    """A format template split into [text, column, text, column, …, text]."""
    stray = _PLACEHOLDER.sub("", template) if isinstance(template, str) else "{"
    if "{" in stray or "}" in stray:
        raise Problem(f"format in {where} takes one text with {{column}} placeholders, got {template!r}")
    return _PLACEHOLDER.split(template)


def _derive(frame: pd.DataFrame, op: str, operands: list[Any], kind: str, scale: ExactScale) -> pd.Series:
    """The values of a derived column of `kind` (the kind checked by the preprocessor)."""
    if op == "format":
        parts = _format_parts(operands[0], "format")
        columns = parts[1::2]
        text = pd.Series(parts[0], index=frame.index, dtype="str")
        for column, after in zip(columns, parts[2::2]):
            text = text + frame[column].astype("str") + after
        return text.mask(null_mask(frame, columns), None) if columns else text
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


@action(
    "join",
    frame=NAME,
    to=NAME,
    keys=NAMES,
    how=one_of("semi", "inner", "left"),
    columns=optional(NAME_MAP),
    fill=optional(NUMBER),
)
class Join:
    """Rows of `frame` matching `to` on the audience and the `keys` columns.

    (`keys`, not `on`: YAML reads a bare `on` as the boolean true.)

    semi keeps `frame`'s columns (rows whose keys appear in `to`); inner adds `to`'s other
    columns, one row per matching pair; left is inner plus every unmatched row of `frame`,
    whose added columns are null — or `fill` (a number, for numeric columns: "sums over no
    rows are 0"). `columns` ({new name: column of to}) picks and renames what inner and left
    add (default: every column of `to` that is not a key). Order follows `frame`. A lookup
    (`to` holding at most one row per key, as a ranked or deduplicated frame does) adds
    columns without changing `frame`'s rows.
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
            for extra in ("columns", "fill"):
                if extra in args:
                    raise Problem(f"{extra} is only for how: inner or left (a semi join adds no columns)")
            return FrameSchema(left.columns)
        if "fill" in args and args["how"] != "left":
            raise Problem("fill is only for how: left (only a left join has unmatched rows)")
        added = {}
        for name, column in _added_columns(args, right).items():
            new_column_name(name, "columns")
            added[name] = right.kind(column, f"columns (frame {args['to']!r})")
            if "fill" in args:
                require_kind(FrameSchema(added), name, "fill", (AMOUNT, COUNT, RATE))
                check_literal(added[name], number_literal(args["fill"], "fill"), f"fill of column {name!r}")
        clash = [c for c in added if c in left.columns]
        if clash:
            raise Problem(f"{args['how']} join would duplicate columns {clash}; pick or rename them with columns")
        return FrameSchema(left.columns | added)

    @staticmethod
    def literals(args: dict[str, Any]) -> list[Decimal]:
        return [number_literal(args["fill"], "fill")] if "fill" in args else []

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        keys = [AUD] + args["keys"]
        right = ctx.frames[args["to"]]
        frame = ctx.frames[args["frame"]]
        if args["how"] == "semi":
            return frame.merge(right[keys].drop_duplicates(), on=keys, how="inner", sort=False)
        added = _added_columns(args, right)
        picked = right[keys + list(added.values())].set_axis(keys + list(added), axis=1)
        if args["how"] == "inner":
            return frame.merge(picked, on=keys, how="inner", sort=False)
        # int64 columns would turn float64 where nothing matched: nullable Int64 keeps them exact
        counts = [c for c in added if picked[c].dtype == "int64"]
        picked = picked.astype(dict.fromkeys(counts, "Int64"))
        joined = frame.merge(picked, on=keys, how="left", sort=False, indicator=_MATCHED)
        unmatched = (joined.pop(_MATCHED) == "left_only").to_numpy()
        if "fill" in args:
            for name in added:
                value = literal_for(schema.columns[name], number_literal(args["fill"], "fill"), ctx.scale)
                if unmatched.any():
                    joined[name] = joined[name].mask(unmatched, value)
            joined = joined.astype(dict.fromkeys(counts, "int64"))
        return joined


_MATCHED = "_matched"


def _added_columns(args: dict[str, Any], right: FrameSchema | pd.DataFrame) -> dict[str, str]:
    """{new name: column of `to`} an inner or left join adds."""
    if "columns" in args:
        return dict(args["columns"])
    return {c: c for c in right.columns if c not in args["keys"] and c != AUD}


@action("entitled_accounts", column=NAME)
class EntitledAccounts:
    """Every account code of each audience's A — also those without any data row — once,
    ascending by code point, in a text column named by `column`."""

    @staticmethod
    def output(args: dict[str, Any], frames: dict[str, FrameSchema]) -> FrameSchema:
        new_column_name(args["column"], "column")
        return FrameSchema({args["column"]: TEXT})

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        accounts = ctx.accounts()
        return pd.DataFrame({AUD: accounts[AUD].to_numpy(), args["column"]: accounts[ACCOUNT]}).reset_index(drop=True)


@action("number", frame=NAME, column=NAME, within=optional(NAMES))
class Number:
    """Each row's 1-based position in the frame's order, per audience (and per `within`
    values), as a new count column: after a `rank`, the row's place in the ranked list."""

    @staticmethod
    def output(args: dict[str, Any], frames: dict[str, FrameSchema]) -> FrameSchema:
        schema = input_frame(frames, args["frame"])
        for column in args.get("within", []):
            require_kind(schema, column, "within", (TEXT,))
        new_column_name(args["column"], "column")
        if args["column"] in schema.columns:
            raise Problem(f"column {args['column']!r} is already a column of {args['frame']!r}")
        return FrameSchema(schema.columns | {args["column"]: COUNT}, schema.per_audience)

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        frame = ctx.frames[args["frame"]]
        positions = frame.groupby([AUD, *args.get("within", [])], sort=False, dropna=False).cumcount() + 1
        return frame.assign(**{args["column"]: positions.astype("int64")})


@action("concat", frames=NAMES, columns=NAMES)
class Concat:
    """The rows of several frames, `columns` of each (same kinds everywhere): per audience,
    the first frame's rows in its order, then the second's, and so on."""

    @staticmethod
    def output(args: dict[str, Any], frames: dict[str, FrameSchema]) -> FrameSchema:
        if len(args["frames"]) < 2:
            raise Problem("frames must name at least 2 frames")
        schemas = [input_frame(frames, name, "frames") for name in args["frames"]]
        columns = {}
        for column in args["columns"]:
            kinds = {schema.kind(column, f"columns (frame {name!r})") for name, schema in zip(args["frames"], schemas)}
            if len(kinds) > 1:
                raise Problem(f"column {column!r} in columns has different kinds {sorted(kinds)} in {args['frames']}")
            columns[column] = kinds.pop()
        return FrameSchema(columns)

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        parts = [ctx.frames[name][[AUD, *args["columns"]]] for name in args["frames"]]
        # nullable Int64 and int64 of the same kind: concatenated as nullable
        joined = pd.concat(parts, ignore_index=True)
        which = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
        order = np.lexsort((which, joined[AUD].to_numpy()))  # stable: each frame's order is kept
        return joined.take(order).reset_index(drop=True)


@action("distinct", frame=NAME, keys=NAMES)
class Distinct:
    """The first row (in the frame's order) of each audience's distinct `keys` values."""

    @staticmethod
    def output(args: dict[str, Any], frames: dict[str, FrameSchema]) -> FrameSchema:
        schema = input_frame(frames, args["frame"])
        for column in args["keys"]:
            schema.kind(column, "keys")
        return FrameSchema(schema.columns, schema.per_audience)

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        frame = ctx.frames[args["frame"]]
        return frame.drop_duplicates([AUD, *args["keys"]], keep="first").reset_index(drop=True)


@action("implied_growth", frame=NAME, amount=NAME, growth=NAME, column=NAME)
class ImpliedGrowth:
    """Growth of Σ amount against a prior period known only through each row's growth %.

    Each row with `amount` b and `growth` g both non-null and g > −100 implies a prior amount
    p = b × 100 / (100 + g); per audience, (Σb − Σp) / Σp × 100 over those rows, as an exact
    ratio (so rounded once, when the page is written), null when no row qualifies or Σp ≤ 0.
    Rows with g ≤ −100 (no prior amount can be recovered) or a null are left out of both sums.
    One row per audience (docs/contracts/daily-brief.md, v2 `total_yoy`).
    """

    @staticmethod
    def output(args: dict[str, Any], frames: dict[str, FrameSchema]) -> FrameSchema:
        schema = input_frame(frames, args["frame"])
        require_kind(schema, args["amount"], "amount", (AMOUNT,))
        require_kind(schema, args["growth"], "growth", (RATE,))
        new_column_name(args["column"], "column")
        return FrameSchema({args["column"]: RATIO}, per_audience=True)

    @staticmethod
    def run(args: dict[str, Any], ctx: RunContext, schema: FrameSchema) -> pd.DataFrame:
        frame = ctx.frames[args["frame"]]
        hundred = ctx.scale.literal(Decimal(100))  # 100 % in units
        usable = ~null_mask(frame, [args["amount"], args["growth"]])
        growth = frame[args["growth"]].where(usable, 0)
        usable &= np.asarray(growth > -hundred, dtype=bool)
        rows = frame[usable]
        amounts = rows[args["amount"]].astype(object).tolist()
        bases = (rows[args["growth"]].astype(object) + hundred).tolist()
        prior = pd.Series(
            [Fraction(int(b) * hundred, int(base)) for b, base in zip(amounts, bases)], index=rows.index, dtype=object
        )
        sums = pd.DataFrame({AUD: rows[AUD], "b": pd.Series(amounts, index=rows.index, dtype=object), "p": prior})
        per_audience = sums.groupby(AUD, sort=True)[["b", "p"]].sum()
        growth_of = {
            aud: (Fraction(int(b)) - p) / p * 100 if p > 0 else None
            for aud, b, p in zip(per_audience.index.tolist(), per_audience["b"].tolist(), per_audience["p"].tolist())
        }
        auds = range(ctx.audience_count)
        return pd.DataFrame(
            {
                AUD: pd.Series(list(auds), dtype="int64"),
                args["column"]: pd.Series([growth_of.get(a) for a in auds], dtype=object),
            }
        )
