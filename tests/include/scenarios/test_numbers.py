"""Exact decimal arithmetic: the batch's unit scale, rendering half away from zero, exact ratios."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

from include.scenarios.numbers import ExactScale, decimal_places, fraction_ranks, render_fraction


def test_exact_scale_rounds_half_away_from_zero_and_widens_when_needed() -> None:
    values = pd.Series([1.115, -1.115, 0.125, -0.005, np.nan, 2.675])
    assert decimal_places(values) == 3
    scale = ExactScale.fit([values], literal_places=0)
    assert scale == ExactScale(places=3, wide=False)
    units = scale.units(values)
    assert scale.render(units, 2) == [1.12, -1.12, 0.13, -0.01, None, 2.68]
    assert scale.render(pd.Series([1115 + 1110], dtype="Int64"), 2) == [2.23]  # 1.115 + 1.11
    huge = pd.Series([1234.5678901234567, 3e17])
    wide = ExactScale.fit([huge], literal_places=0)
    assert wide.wide and wide.places == 13
    assert wide.render(wide.units(huge), 2) == [1234.57, 3e17]


def test_literals_set_the_scale_and_are_exact_units() -> None:
    values = pd.Series([10.5, 3.0])
    scale = ExactScale.fit([values], literal_places=3)
    assert scale == ExactScale(places=3, wide=False)
    assert scale.units(values).tolist() == [10500, 3000]
    assert scale.literal(Decimal("2.125")) == 2125
    assert scale.literal(Decimal("-7")) == -7000
    assert decimal_places(pd.Series([np.nan, None], dtype="float64")) == 0


def test_render_fraction_rounds_exact_ratios_half_away_from_zero() -> None:
    assert render_fraction(Fraction(200, 3), 1) == 66.7
    assert render_fraction(Fraction(1, 20), 1) == 0.1  # 0.05: a float would say 0.0 or 0.1 by luck
    assert render_fraction(Fraction(-1, 20), 1) == -0.1
    assert render_fraction(Fraction(1, 40), 2) == 0.03  # 0.025
    assert render_fraction(Fraction(0), 1) == 0.0
    assert render_fraction(None, 1) is None


def test_fraction_ranks_are_dense_and_exact() -> None:
    values = [Fraction(3, 2), Fraction(1, 3), Fraction(6, 4), Fraction(-1), Fraction(1, 3) + Fraction(1, 10**30)]
    assert fraction_ranks(values).tolist() == [3, 1, 3, 0, 2]
    assert fraction_ranks([]).tolist() == []
