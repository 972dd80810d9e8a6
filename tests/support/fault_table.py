"""The fault suite's report: one row per fault, printed at the end of the test session."""

from __future__ import annotations

ROWS: list[tuple[str, str, str, bool]] = []


def record(fault: str, expected: str, observed: str, holds: bool) -> None:
    ROWS.append((fault, expected, observed, holds))


def render() -> str:
    header = ("fault", "expected", "observed", "holds")
    table = [header] + [(f, e, o, "yes" if ok else "NO") for f, e, o, ok in ROWS]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in table]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
