"""pipeline_run against a real PostgreSQL: a run's record, its counts, abandoned runs, reads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from include import card_store
from tests.include.card_store.card_rows import T0


def test_run_record_counts(pg):
    card_store.runs.start_run(pg, run_id="r1", interval_end=T0)
    card_store.runs.finish_run(pg, run_id="r1", status="success", counts={"cards_written": 7, "orgs_fetched": 2})
    assert pg.get_first("SELECT status, cards_written, orgs_fetched, finished_at IS NOT NULL FROM pipeline_run") == (
        "success",
        7,
        2,
        True,
    )
    with pytest.raises(ValueError, match="bogus"):
        card_store.runs.finish_run(pg, run_id="r1", status="success", counts={"bogus": 1})
    card_store.runs.finish_run(pg, run_id="r1", status="failed", counts={})  # a status without counts
    assert pg.get_first("SELECT status, cards_written FROM pipeline_run") == ("failed", 7)


def test_a_new_run_marks_runs_running_past_the_timeout_abandoned(pg):
    card_store.runs.start_run(pg, run_id="killed", interval_end=T0)
    card_store.runs.start_run(pg, run_id="recent", interval_end=T0)
    pg.run("UPDATE pipeline_run SET started_at = now() - interval '3 hours' WHERE run_id = 'killed'")
    card_store.runs.start_run(pg, run_id="next", interval_end=T0, abandon_after=timedelta(hours=2))
    assert dict(pg.get_records("SELECT run_id, status FROM pipeline_run")) == {
        "killed": "abandoned",
        "recent": "running",
        "next": "running",
    }
    assert pg.get_first("SELECT finished_at IS NOT NULL FROM pipeline_run WHERE run_id = 'killed'")[0]


def test_restarting_a_run_reopens_its_record(pg):
    card_store.runs.start_run(pg, run_id="r1", interval_end=T0)
    card_store.runs.finish_run(pg, run_id="r1", status="failed", counts={"cards_written": 0})
    later = T0 + timedelta(hours=2)
    card_store.runs.start_run(pg, run_id="r1", interval_end=later)
    assert pg.get_records("SELECT run_id, status, finished_at, data_interval_end FROM pipeline_run") == [
        ("r1", "running", None, later)
    ]


def test_latest_and_recent_runs(pg):
    for run_id, interval_end, minutes_ago in (("a", T0, 30), ("b", T0, 10), ("c", T0 + timedelta(hours=2), 20)):
        card_store.runs.start_run(pg, run_id=run_id, interval_end=interval_end)
        pg.run(
            "UPDATE pipeline_run SET started_at = now() - make_interval(mins => %s) WHERE run_id = %s",
            parameters=(minutes_ago, run_id),
        )
    card_store.runs.finish_run(pg, run_id="b", status="partial", counts={"cards_written": 4, "dead_letters": 1})

    latest = card_store.runs.latest_run(pg, T0)
    assert (latest["run_id"], latest["status"], latest["cards_written"], latest["dead_letters"]) == (
        "b",
        "partial",
        4,
        1,
    )
    assert latest["data_interval_end"] == T0 and latest["finished_at"] is not None
    assert set(latest) == set(card_store.runs.RUN_COLUMNS)
    assert card_store.runs.latest_run(pg, T0 - timedelta(hours=2)) is None
    assert [r["run_id"] for r in card_store.runs.recent_runs(pg, 2)] == ["b", "c"]
    assert [r["run_id"] for r in card_store.runs.recent_runs(pg, 10)] == ["b", "c", "a"]
