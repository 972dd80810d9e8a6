"""The card store's schema: numbered SQL migrations in ``migrations/``, applied once each."""

from __future__ import annotations

import logging
from importlib import resources

from airflow.providers.postgres.hooks.postgres import PostgresHook

from include.card_store.connection import transaction

log = logging.getLogger(__name__)

MIGRATIONS_PACKAGE = "include.card_store.migrations"
# Any constant works; it only has to be the same for every migrating process.
_MIGRATION_LOCK_KEY = 0x0ADA_CA2D


def _migration_files() -> list[tuple[str, str]]:
    files = resources.files(MIGRATIONS_PACKAGE)
    return sorted(
        (f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files.iterdir() if f.name.endswith(".sql")
    )


def migrate(pg: PostgresHook) -> list[str]:
    """Apply pending migrations; safe to run concurrently and on every DAG run."""
    with transaction(pg) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
        cur.execute(
            "CREATE TABLE IF NOT EXISTS card_store_migration ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT version FROM card_store_migration")
        done = {row[0] for row in cur.fetchall()}
        applied = []
        for version, sql in _migration_files():
            if version in done:
                continue
            cur.execute(sql)
            cur.execute("INSERT INTO card_store_migration (version) VALUES (%s)", (version,))
            applied.append(version)
    log.info("card-store migrations: %d applied %s, %d already present", len(applied), applied, len(done))
    return applied
