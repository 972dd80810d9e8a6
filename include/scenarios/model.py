"""What a validated scenario is made of: steps, frame schemas, column kinds and the error type.

Kept apart from the actions and the preprocessor so both can speak about the same things
without importing each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Column kinds. They decide which operations are allowed on a column (the preprocessor
# refuses to sum a rate) and how a value is written into a page (amounts 2 decimals,
# rates 1 decimal, counts as whole numbers).
TEXT = "text"
COUNT = "count"  # int64 from the source (the five issue columns)
AMOUNT = "amount"  # exact decimal, held as integer units (see numbers.py)
RATE = "rate"  # a percentage from the source, exact decimal like AMOUNT
RATIO = "ratio"  # a percentage computed by `percent`, held as an exact Fraction
NUMERIC_KINDS = (COUNT, AMOUNT, RATE, RATIO)

AUD = "_aud"  # audience number of a row: the implicit first key of every frame
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class ScenarioError(ValueError):
    """A scenario file is wrong; the message names the file, the step or page and the problem."""


class Problem(Exception):
    """A problem found while checking one step or page; the preprocessor adds where it is."""


@dataclass(frozen=True)
class FrameSchema:
    """Columns (name -> kind, in order) of a step's output frame.

    `per_audience` is true when the frame is known to hold exactly one row per audience
    (the output of `total` and of `derive` over it), which page fields that read a single
    value need.
    """

    columns: dict[str, str]
    per_audience: bool = False

    def kind(self, column: Any, where: str) -> str:
        """The kind of `column`, or a Problem naming the argument and the known columns."""
        if not isinstance(column, str) or column not in self.columns:
            known = ", ".join(self.columns) or "(none)"
            raise Problem(f"unknown column {column!r} in {where}; known: {known}")
        return self.columns[column]


@dataclass(frozen=True)
class Step:
    index: int  # 1-based position in the file
    id: str
    action: str
    args: dict[str, Any]
    output: FrameSchema

    def where(self, file: str) -> str:
        return f"{file}, step {self.index} {self.id!r} ({self.action})"


@dataclass(frozen=True)
class Scenario:
    """A parsed and validated scenario, ready for `run_batch`."""

    id: str
    file: str
    steps: tuple[Step, ...]
    pages: tuple[Any, ...]  # pages.PageDef, in the file's order
    literal_places: int  # most decimal places of any number literal (sets the exact scale)
    sources: tuple[str, ...]  # T2A queries run_batch needs in `data`
    subscriber_keys: tuple[str, ...] = ()  # subscriber fields pages show ({subscriber: …}): filled per user
