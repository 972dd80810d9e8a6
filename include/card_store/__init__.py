"""The card store in PostgreSQL (docs/contracts/card-store.md), one module per table or job:

- ``connection``: the PostgresHook (connection ``card_store``), one-transaction cursors, advisory locks;
- ``schema``: migrations;
- ``results``: subscribers' stored pages and cards (``user_scenario_result``) and the outbox;
- ``runs``: ``pipeline_run``;
- ``dead_letters``: writes to ``pipeline_dead_letter``.
"""

from include.card_store import dead_letters, results, runs, schema
from include.card_store.connection import advisory_lock, hook, transaction

__all__ = ["advisory_lock", "dead_letters", "hook", "results", "runs", "schema", "transaction"]
