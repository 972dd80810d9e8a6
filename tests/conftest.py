"""Shared fixtures: a throw-away card-store database, a Redis database for change events and
the T2A stand-in server on a free port — all real services, addressed through the same
AIRFLOW_CONN_* variables a deployment uses.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import psycopg
import pytest
import redis

from include import card_store

DB_HOST = os.environ.get("DB_HOST", "127.0.0.1")
DB_PORT = int(os.environ.get("DB_PORT", "5432"))
DB_USER = os.environ.get("DB_USER", "postgres")
TEST_DB = f"acp_test_{os.getpid()}"
# Per session, so two test sessions on one machine (developers, helpers) do not share a stream.
TEST_REDIS_DB = 1 + os.getpid() % 15
CARD_TABLES = ("card_subscriber", "user_scenario_result", "pipeline_dead_letter", "pipeline_run", "card_change_outbox")


def _admin() -> psycopg.Connection:
    return psycopg.connect(host=DB_HOST, port=DB_PORT, user=DB_USER, dbname="postgres", autocommit=True)


@pytest.fixture(scope="session")
def card_store_db():
    """A fresh card-store database for this test session, migrated like a real one."""
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{TEST_DB}"')
    os.environ["AIRFLOW_CONN_CARD_STORE"] = json.dumps(
        {"conn_type": "postgres", "host": DB_HOST, "port": DB_PORT, "login": DB_USER, "schema": TEST_DB}
    )
    card_store.schema.migrate(card_store.hook())
    yield TEST_DB
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')


@pytest.fixture
def pg(card_store_db):
    """The card-store hook, with every table emptied before the test."""
    hook = card_store.hook()
    hook.run(f"TRUNCATE {', '.join(CARD_TABLES)} RESTART IDENTITY")
    return hook


@pytest.fixture(scope="session")
def redis_db():
    os.environ["AIRFLOW_CONN_REDIS_DEFAULT"] = json.dumps(
        {"conn_type": "redis", "host": "127.0.0.1", "port": 6379, "extra": {"db": TEST_REDIS_DB}}
    )
    client = redis.Redis(host="127.0.0.1", port=6379, db=TEST_REDIS_DB, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="session")
def t2a_token():
    return secrets.token_urlsafe(16)


@pytest.fixture(scope="session")
def t2a_server(t2a_token):
    """The stand-in T2A server (small preset) over real HTTP, wired as connection t2a_api."""
    from t2a_standin.data import DataConfig
    from t2a_standin.server import serve_in_thread

    with serve_in_thread(DataConfig(), t2a_token) as server:
        os.environ["AIRFLOW_CONN_T2A_API"] = json.dumps(
            {"conn_type": "http", "host": server.host, "port": server.port, "schema": "http", "password": t2a_token}
        )
        yield server


SESSION_STARTED = time.time()
BENCH_TABLE = Path(__file__).resolve().parents[1] / "artifacts" / "bench-small.txt"


def pytest_terminal_summary(terminalreporter):
    """Print the fault table and, when this session ran it, the small benchmark's figures."""
    from tests.support import fault_table

    if fault_table.ROWS:
        terminalreporter.section("fault suite")
        terminalreporter.write_line(fault_table.render())
    if BENCH_TABLE.exists() and BENCH_TABLE.stat().st_mtime >= SESSION_STARTED:
        terminalreporter.section("benchmark (small; figures printed, not asserted)")
        terminalreporter.write_line(BENCH_TABLE.read_text())
