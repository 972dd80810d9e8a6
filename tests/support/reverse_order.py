"""Run the tests in another order, to show that none depends on one that ran before it.

``TEST_ORDER`` (registered from tests/conftest.py):

- ``reverse``: the collected tests in reverse order (modules too);
- ``random:<seed>``: shuffled with that seed, ``random``: with a new seed, printed in the
  header so the run can be repeated. Modules are shuffled as wholes and the tests inside each
  module among themselves, so module-scoped fixtures are still set up once;
- unset, empty or ``collected``: as collected.
"""

from __future__ import annotations

import os
import random

import pytest

_SEED = random.SystemRandom().randrange(10**6)


def _order() -> tuple[str, int | None]:
    value = os.environ.get("TEST_ORDER", "").strip()
    if value in ("", "collected"):
        return "collected", None
    if value == "reverse":
        return "reverse", None
    if value == "random":
        return "random", _SEED
    kind, _, seed = value.partition(":")
    if kind == "random" and seed.strip().lstrip("-").isdigit():
        return "random", int(seed)
    raise pytest.UsageError(f"TEST_ORDER={value!r}: use reverse, random, random:<seed> or collected")


def pytest_report_header(config) -> str | None:
    kind, seed = _order()
    if kind == "collected":
        return None
    return f"TEST_ORDER: {kind}" + (f" (seed {seed}; repeat with TEST_ORDER=random:{seed})" if seed is not None else "")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items) -> None:
    kind, seed = _order()
    if kind == "reverse":
        items.reverse()
    elif kind == "random":
        rng = random.Random(seed)
        modules: dict[str, list] = {}
        for item in items:
            modules.setdefault(item.nodeid.split("::")[0], []).append(item)
        groups = list(modules.values())
        rng.shuffle(groups)
        for group in groups:
            rng.shuffle(group)
        items[:] = [item for group in groups for item in group]
