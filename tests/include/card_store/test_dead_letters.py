"""pipeline_dead_letter writes against a real PostgreSQL."""

from __future__ import annotations

from include import card_store


def test_dead_letter_rerun_updates_instead_of_duplicating(pg):
    for attempts in (1, 4):
        card_store.dead_letters.record(
            pg,
            run_id="r1",
            stage="fetch",
            item_key="5503",
            payload={"sales_org_cd": "5503"},
            error=f"boom {attempts}",
            attempts=attempts,
        )
    assert pg.get_records("SELECT item_key, error, attempts FROM pipeline_dead_letter") == [("5503", "boom 4", 4)]
    assert card_store.dead_letters.count_open(pg, "r1") == 1


def test_count_open_counts_this_runs_unresolved_letters_only(pg):
    def record(run_id: str, stage: str, item_key: str) -> None:
        card_store.dead_letters.record(
            pg, run_id=run_id, stage=stage, item_key=item_key, payload={"k": item_key}, error="e", attempts=1
        )

    record("r1", "fetch", "5503")
    record("r1", "scenario", "u1:daily_brief")
    record("r1", "subscriber", "u2")
    record("r2", "fetch", "5503")
    assert card_store.dead_letters.count_open(pg, "r1") == 3
    pg.run("UPDATE pipeline_dead_letter SET resolved_at = now() WHERE run_id = 'r1' AND stage = 'subscriber'")
    assert card_store.dead_letters.count_open(pg, "r1") == 2
    assert card_store.dead_letters.count_open(pg, "r2") == 1
    assert card_store.dead_letters.count_open(pg, "r3") == 0

    # once resolved, the same item failing again is a new letter, not an update of the old one
    record("r1", "subscriber", "u2")
    assert card_store.dead_letters.count_open(pg, "r1") == 3
    assert pg.get_first("SELECT count(*) FROM pipeline_dead_letter WHERE item_key = 'u2'")[0] == 2
    stored = pg.get_first("SELECT payload FROM pipeline_dead_letter WHERE stage = 'scenario'")[0]
    assert stored == {"k": "u1:daily_brief"}


def test_text_postgresql_cannot_hold_is_stored_escaped_not_lost(pg):
    card_store.dead_letters.record(
        pg,
        run_id="r1",
        stage="fetch",
        item_key="55\x0003",
        payload={"code": "\ud800", "nested": ["a\x00b"]},
        error='row 1: "\ud800" and a NUL \x00',
        attempts=1,
    )
    assert pg.get_first("SELECT item_key, payload, error FROM pipeline_dead_letter") == (
        "55\\x0003",
        {"code": "\\ud800", "nested": ["a\\x00b"]},
        'row 1: "\\ud800" and a NUL \\x00',
    )
