"""Shared by the card-store tests (and test_change_events): card rows to store and the stored
table as tuples. Plain functions, so tests elsewhere can import them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from include import card_store

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)


def rows(content: str, users=("u1", "u2", "u3")) -> list[card_store.results.CardRow]:
    return [
        card_store.results.CardRow(
            u,
            "daily_brief",
            "5503",
            json.dumps({"overview": {"v": content}}),
            json.dumps({"overview": {"type": "AdaptiveCard"}}),
            f"hash-{content}",
        )
        for u in users
    ]


def table(pg) -> list[tuple]:
    return pg.get_records(
        "SELECT user_id, content_hash, run_id, data_interval_end, created_at, updated_at"
        " FROM user_scenario_result ORDER BY user_id"
    )
