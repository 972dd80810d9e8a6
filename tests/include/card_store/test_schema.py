"""Card-store migrations against a real PostgreSQL."""

from __future__ import annotations

from include import card_store


def test_migrate_is_idempotent_and_accepts_existing_subscriber_table(pg):
    assert card_store.schema.migrate(pg) == []
    # The card service often creates card_subscriber first: a fresh schema with only that table.
    pg.run(
        "DROP TABLE IF EXISTS card_store_migration, user_scenario_result, pipeline_dead_letter,"
        " pipeline_run, card_change_outbox"
    )
    assert card_store.schema.migrate(pg) == [
        "001_card_store",
        "002_render_key",
        "003_lz4_cards",
        "004_withdrawn_events",
    ]
    names = {
        r[0] for r in pg.get_records("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    }
    assert {
        "card_subscriber",
        "user_scenario_result",
        "pipeline_dead_letter",
        "pipeline_run",
        "card_change_outbox",
    } <= names
    compression = dict(
        pg.get_records(
            "SELECT attname, attcompression FROM pg_attribute"
            " WHERE attrelid = 'user_scenario_result'::regclass AND attname IN ('pages', 'cards')"
        )
    )
    assert compression == {"pages": "l", "cards": "l"}  # lz4


def test_every_migration_is_recorded_once(pg):
    versions = pg.get_records("SELECT version FROM card_store_migration ORDER BY version")
    assert [v[0] for v in versions] == ["001_card_store", "002_render_key", "003_lz4_cards", "004_withdrawn_events"]
    card_store.schema.migrate(pg)
    assert pg.get_first("SELECT count(*) FROM card_store_migration")[0] == 4
