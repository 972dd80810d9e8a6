"""The dead-letter service (include/ops/dead_letters.py), called directly on real PostgreSQL
rows: how replays are grouped and how a finished replay run settles its claims. The CLI on
top of it (list, replay, settle, dismiss) is tested in test_cli.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from include import card_store
from include.ops import dead_letters


def test_replay_groups_orgs_and_users_into_separate_runs():
    def letter(i: int, stage: str, payload: dict) -> dead_letters.DeadLetter:
        return dead_letters.DeadLetter(i, "r", stage, "k", payload, "e", 1, datetime.now(), None, None)

    groups = dead_letters.replay_groups(
        [
            letter(1, "fetch", {"sales_org_cd": "5503"}),
            letter(2, "scenario", {"user_id": "u2"}),
            letter(3, "subscriber", {"user_id": "u1"}),
            letter(4, "fetch", {"sales_org_cd": "1802"}),
            letter(5, "scenario", {"user_id": "u2"}),
        ]
    )
    assert groups == [({"sales_orgs": ["1802", "5503"]}, [1, 4]), ({"user_ids": ["u1", "u2"]}, [2, 3, 5])]
    with pytest.raises(dead_letters.DeadLetterError, match=r"dead letter 7 .*'user_id'"):
        dead_letters.replay_groups([letter(7, "scenario", {"scenario_id": "daily_brief"})])
    with pytest.raises(dead_letters.DeadLetterError, match="stage 'merge' cannot be replayed"):
        dead_letters.replay_groups([letter(8, "merge", {})])


def test_settle_decides_fetch_replays_by_the_cards_the_run_stored(pg, dead_letter):
    """settle() on real rows: a finished run that stored cards of org A resolves A's fetch dead
    letter, not B's (no card of B), and leaves a claim on an unfinished run alone."""
    org_a = "5503"
    card = card_store.results.CardRow(
        "u00001", "daily_brief", org_a, json.dumps({"overview": {}}), json.dumps({"overview": {}}), "h"
    )
    ids = {
        org: dead_letter(
            pg,
            run_id="r_fetch",
            stage="fetch",
            item_key=org,
            payload={"sales_org_cd": org},
            error="HTTP 503",
            attempts=4,
        )
        for org in (org_a, "0000", "pending")
    }
    later = datetime.fromisoformat("2030-01-01T00:00:00+00:00")
    dead_letters.claim(pg, [ids[org_a], ids["0000"]], "replay_done")
    dead_letters.claim(pg, [ids["pending"]], "replay_running")
    card_store.runs.start_run(pg, run_id="replay_done", interval_end=later)
    card_store.runs.start_run(pg, run_id="replay_running", interval_end=later + timedelta(hours=1))
    card_store.results.store_cards(pg, [card], run_id="replay_done", interval_end=later)
    card_store.runs.finish_run(pg, run_id="replay_done", status="success", counts={"orgs_fetched": 1})

    outcome = dead_letters.settle(pg)
    assert outcome[ids[org_a]] == "replayed by run replay_done"
    assert "no card for sales org 0000" in outcome[ids["0000"]]
    assert ids["pending"] not in outcome
    assert dead_letters.get_dead_letters(pg, [ids["pending"]])[0].claimed_by == "replay_running"
    with pytest.raises(dead_letters.DeadLetterError, match="being replayed"):
        dead_letters.dismiss(pg, [ids["pending"]], "no")
    # The run ended without finishing (e.g. its Airflow state is failed): the claim is released.
    outcome = dead_letters.settle(pg, run_ended=lambda run_id: run_id == "replay_running")
    assert "ended before recording its result" in outcome[ids["pending"]]
    assert dead_letters.get_dead_letters(pg, [ids["pending"]])[0].claimed_by is None
