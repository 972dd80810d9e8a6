"""The card store's one way in: PostgresHook on connection ``card_store``, one transaction at a time.

PostgresHook hands out psycopg 3 connections (the ``postgres`` provider with psycopg
installed); the COPY and ``conn.transaction()`` used here are psycopg 3 APIs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.providers.postgres.hooks.postgres import PostgresHook

from include.config import settings


def hook(conn_id: str | None = None) -> PostgresHook:
    return PostgresHook(postgres_conn_id=conn_id or settings().card_store_conn_id)


@contextmanager
def transaction(pg: PostgresHook) -> Iterator:
    """One psycopg connection in one transaction: committed on success, rolled back on error."""
    conn = pg.get_conn()
    try:
        with conn.transaction(), conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


@contextmanager
def advisory_lock(pg: PostgresHook, name: str) -> Iterator[None]:
    """Hold the lock called ``name`` for the block, across processes and hosts (a PostgreSQL
    transaction-level advisory lock, released when the block's transaction ends)."""
    with transaction(pg) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,))
        yield
