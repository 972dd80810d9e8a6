"""Exact decimal arithmetic for scenario columns.

T2A sends decimal numbers; pandas holds them as binary floats, and float sums get exact
halves wrong (1.115 + 1.11 is 2.2249999999999996, which rounds to 2.22 instead of 2.23).
So every amount and source rate is turned into an integer count of 10^-places units
("units") once per batch: sums, differences and comparisons on integers are exact, and a
rate computed from sums is an exact Fraction. Only the values written into pages are
rounded, half away from zero, with integer arithmetic.

Units are nullable Int64 when every sum provably fits in 64 bits, else Python ints in
object columns ("wide"); both support the same pandas operations, so actions do not care.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

_FAST_PLACES = 9  # place counts tried with vectorised float checks before falling back to Decimal
_ONE_TO_ONE = 2**52  # below this, a float and the k-place decimal it came from map one-to-one
_SUM_LIMIT = 2.0**56  # Int64 units only while a column's |units| sum stays below this: room to add 64 such columns


def _fast_units(x: np.ndarray, places: int) -> tuple[np.ndarray, np.ndarray]:
    """round(x·10^places) and where that integer is provably the decimal `x` was parsed from."""
    factor = 10.0**places
    with np.errstate(over="ignore", invalid="ignore"):
        n = np.round(x * factor)
        ok = (np.abs(n) < _ONE_TO_ONE) & (n / factor == x)
    return n, ok


def _decimal(x: float) -> Decimal:
    """The decimal a float was parsed from: Python's shortest round-trip repr."""
    return Decimal(repr(float(x)))


def decimal_places(values: pd.Series) -> int:
    """Most digits after the point over the non-null values (0 for none)."""
    x = values.dropna().to_numpy(dtype="float64")
    places = 0
    for k in range(_FAST_PLACES + 1):
        if x.size == 0:
            return places
        _, ok = _fast_units(x, k)
        if ok.any():
            places = k
        x = x[~ok]
    return max([places] + [-_decimal(v).as_tuple().exponent for v in x])


def _exact_units(values: pd.Series, places: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(units, null mask, all_fast): int64 units when the vectorised check covered every
    value, else an object array of exact Python ints (the rest converted through Decimal)."""
    x = values.to_numpy(dtype="float64", na_value=np.nan)
    null = np.isnan(x)
    if places <= 22:  # 10.0**places is exact
        n, ok = _fast_units(np.where(null, 0.0, x), places)
    else:
        n, ok = np.zeros(x.size), np.zeros(x.size, dtype=bool)
    if ok.all():
        return n.astype("int64"), null, True
    exact = np.array([int(v) for v in n.tolist()], dtype=object)
    for i in np.flatnonzero(~ok & ~null):
        exact[i] = int(_decimal(x[i]).scaleb(places))
    return exact, null, False


@dataclass(frozen=True)
class ExactScale:
    """The batch's unit size (10^-places) and representation; see the module docstring."""

    places: int
    wide: bool

    @classmethod
    def fit(cls, columns: list[pd.Series], literal_places: int) -> ExactScale:
        """The scale every value of `columns` and every literal is an exact multiple of."""
        places = max([literal_places] + [decimal_places(c) for c in columns])
        for column in columns:
            units, _, fast = _exact_units(column, places)
            if not fast or np.abs(units).sum(dtype="float64") >= _SUM_LIMIT:
                return cls(places, wide=True)
        return cls(places, wide=False)

    def units(self, values: pd.Series) -> pd.Series:
        """A float column (NaN = null) of the fitted columns as exact units, same index."""
        units, null, fast = _exact_units(values, self.places)
        if self.wide:
            units = units.astype(object) if fast else units
            units[null] = None
            return pd.Series(units, index=values.index, dtype=object)
        assert fast, "fit() saw this column"
        return pd.Series(pd.arrays.IntegerArray(units, null), index=values.index)

    def literal(self, value: Decimal) -> int:
        """A scenario number literal in units (exact: `places` covers every literal)."""
        return int(value.scaleb(self.places))

    def render(self, values: pd.Series, places: int) -> list[float | None]:
        """Units as floats rounded to `places` decimals, half away from zero; None for null."""
        null = values.isna().to_numpy()
        n = values.to_numpy(dtype=object, na_value=0) if self.wide else values.to_numpy(dtype="int64", na_value=0)
        if self.places > places:
            div = 10 ** (self.places - places)
            magnitude = np.abs(n)
            q = magnitude // div + (2 * (magnitude % div) >= div)
            n = np.where(n < 0, -q, q)
        denominator = 10 ** min(self.places, places)
        if not self.wide and (len(n) == 0 or np.abs(n).max() < 2**53):  # exact in float64: one correct rounding
            out = (n / denominator).astype(object)
        else:
            out = np.array([int(v) / denominator for v in n.tolist()], dtype=object)
        out[null] = None
        return out.tolist()


def render_fraction(value: Fraction | None, places: int) -> float | None:
    """An exact ratio as a float rounded to `places` decimals, half away from zero."""
    if value is None:
        return None
    scaled = abs(value) * 10**places
    q = (2 * scaled.numerator + scaled.denominator) // (2 * scaled.denominator)
    return (-q if value < 0 else q) / 10**places


def fraction_ranks(values: list[Fraction]) -> np.ndarray:
    """Dense ranks (0, 1, …) of exact ratios in ascending order; equal ratios share a rank.

    Sorting Fractions in Python is slow, so they are ordered by their floats (float() of a
    Fraction is correctly rounded, hence monotone) and only runs of equal floats are
    compared exactly.
    """
    if not values:
        return np.zeros(0, dtype="int64")
    approx = np.fromiter((float(v) for v in values), dtype="float64", count=len(values))
    order = np.argsort(approx, kind="stable")
    in_order = approx[order]
    starts_run = np.r_[True, in_order[1:] != in_order[:-1]]
    run = np.cumsum(starts_run) - 1
    within = np.zeros(len(values), dtype="int64")  # exact rank inside a run of equal floats
    bounds = np.r_[np.flatnonzero(starts_run), len(values)]
    for start, end in itertools.pairwise(bounds):
        if end - start > 1:
            members = [values[i] for i in order[start:end]]
            if all(member == members[0] for member in members):  # the usual tie: no hashing needed
                continue
            position = {v: r for r, v in enumerate(sorted(set(members)))}
            within[start:end] = [position[v] for v in members]
    ranks = np.empty(len(values), dtype="int64")
    ranks[order] = np.unique(run * (int(within.max()) + 1) + within, return_inverse=True)[1]
    return ranks
