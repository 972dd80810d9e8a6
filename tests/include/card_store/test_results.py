"""user_scenario_result against a real PostgreSQL: the interval-ordered upsert, its outbox
events in the same transaction, and the render keys of an interval."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from include import card_store
from tests.include.card_store.card_rows import T0, rows, table


def test_first_write_then_unchanged_rerun_writes_nothing(pg):
    first = card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    assert first.as_dict() == {"written": 3, "unchanged": 0, "kept_newer": 0}
    before = table(pg)
    again = card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    assert again.as_dict() == {"written": 0, "unchanged": 3, "kept_newer": 0}
    assert table(pg) == before  # same run, same content: not even updated_at moves
    outbox = pg.get_first("SELECT count(*) FROM card_change_outbox")[0]
    assert outbox == 3


def test_another_run_of_the_same_interval_writes_nothing(pg):
    card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    before = table(pg)
    counts = card_store.results.store_cards(pg, rows("a"), run_id="r2", interval_end=T0)
    assert counts.as_dict() == {"written": 0, "unchanged": 3, "kept_newer": 0}
    assert table(pg) == before


def test_unchanged_content_of_a_later_interval_is_confirmed_not_rewritten(pg):
    card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    before = {r[0]: r for r in table(pg)}
    later = T0 + timedelta(hours=2)
    counts = card_store.results.store_cards(pg, rows("a"), run_id="r2", interval_end=later)
    assert counts.written == 0 and counts.unchanged == 3
    for user, content_hash, run_id, interval_end, created_at, updated_at in table(pg):
        assert (content_hash, run_id, interval_end) == ("hash-a", "r2", later)
        assert created_at == before[user][4]
        assert updated_at > before[user][5]
    assert pg.get_first("SELECT count(*) FROM card_change_outbox")[0] == 3  # no event for a confirmation


def test_older_interval_never_overwrites_newer_cards(pg):
    card_store.results.store_cards(pg, rows("new"), run_id="r-new", interval_end=T0)
    before = table(pg)
    counts = card_store.results.store_cards(pg, rows("old"), run_id="r-old", interval_end=T0 - timedelta(hours=2))
    assert counts.as_dict() == {"written": 0, "unchanged": 0, "kept_newer": 3}
    assert table(pg) == before


def test_changed_content_replaces_row_and_queues_one_event(pg):
    card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    counts = card_store.results.store_cards(
        pg, rows("b", users=("u2",)), run_id="r2", interval_end=T0 + timedelta(hours=2)
    )
    assert counts.written == 1
    stored = {r[0]: r for r in table(pg)}
    assert stored["u2"][1] == "hash-b" and stored["u1"][1] == "hash-a"
    assert stored["u2"][4] > stored["u1"][4]  # new content: new created_at
    events = pg.get_records("SELECT user_id, content_hash, run_id FROM card_change_outbox WHERE run_id = 'r2'")
    assert events == [("u2", "hash-b", "r2")]


def test_force_rewrites_unchanged_content(pg):
    card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    counts = card_store.results.store_cards(pg, rows("a"), run_id="r2", interval_end=T0, force=True)
    assert counts.written == 3


def test_failed_batch_leaves_nothing_behind(pg):
    bad = [*rows("a"), card_store.results.CardRow("u9", "daily_brief", "5503", "{not json", "{}", "h")]
    with pytest.raises(Exception, match="json"):
        card_store.results.store_cards(pg, bad, run_id="r1", interval_end=T0)
    assert table(pg) == []
    assert pg.get_first("SELECT count(*) FROM card_change_outbox")[0] == 0


def test_render_keys_are_those_of_this_interval(pg):
    keyed = [
        card_store.results.CardRow(
            r.user_id, r.scenario_id, r.sales_org_cd, r.pages_json, r.cards_json, r.content_hash, f"key-{r.user_id}"
        )
        for r in rows("a")
    ]
    card_store.results.store_cards(pg, keyed, run_id="r1", interval_end=T0)
    keys = card_store.results.render_keys(
        pg, scenario_id="daily_brief", user_ids=["u1", "u2", "nobody"], interval_end=T0
    )
    assert keys == {"u1": "key-u1", "u2": "key-u2"}
    assert (
        card_store.results.render_keys(
            pg, scenario_id="daily_brief", user_ids=["u1"], interval_end=T0 + timedelta(hours=2)
        )
        == {}
    )


def test_concurrent_batches_of_two_intervals_end_as_if_run_in_interval_order(pg):
    """Two runs write the same 400 rows at once, in opposite orders, many times over: no
    deadlock, the later interval's cards win every time, and the counts add up exactly."""
    users = [f"u{n:04d}" for n in range(400)]
    early, late = T0, T0 + timedelta(hours=2)
    errors: list[BaseException] = []
    for round_ in range(5):
        pg.run("TRUNCATE user_scenario_result, card_change_outbox")
        counts = {}

        def write(name, interval_end, order, content, counts):
            try:
                batch = rows(content, users=order)
                counts[name] = card_store.results.store_cards(pg, batch, run_id=name, interval_end=interval_end)
            except BaseException as exc:  # a deadlock or any error is reported by the assert below
                errors.append(exc)

        threads = [
            threading.Thread(target=write, args=("early", early, users, f"early-{round_}", counts)),
            threading.Thread(target=write, args=("late", late, list(reversed(users)), f"late-{round_}", counts)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert pg.get_records("SELECT DISTINCT run_id, data_interval_end FROM user_scenario_result") == [("late", late)]
        assert counts["late"].written == len(users)
        # the early batch either wrote first (then was overwritten) or found every row newer
        early_counts = counts["early"]
        assert early_counts.written + early_counts.kept_newer == len(users), early_counts
        assert early_counts.unchanged == 0
