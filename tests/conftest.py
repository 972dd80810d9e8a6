"""Shared fixtures: a throw-away card-store database, Redis databases claimed for this test
session and the T2A stand-in server on a free port — all real services, addressed through the
same AIRFLOW_CONN_* variables a deployment uses.

Every test stands alone: it gets what it needs from fixtures, never from a test that ran
before it. Check that with the order of the run:

- ``TEST_ORDER=reverse ./scripts/test.sh …`` runs the collected tests in reverse order;
- ``TEST_ORDER=random:<seed> ./scripts/test.sh …`` shuffles them with that seed (``random``
  alone picks a seed and prints it in the header). Each module's tests stay together, so
  module-scoped fixtures (a stack, an ``airflow dags test`` run) are still set up once;
- unset (or ``collected``): the order pytest collected.

(tests/support/reverse_order.py, registered below.)

Redis: a session claims its own databases (1–15; 0 is the local default and never touched)
when a test first needs one — one for change events (``redis_db``, the ``redis_default``
connection), one for the ops CLI's Celery broker, one for the Celery stack's broker and one for
the benchmark — see ``redis_dbs``. A claim is the key ``acp-test:owner`` set with NX in that
database; only the claimant ever clears it, and it is released (flushed) at the end of the
session. A claim a crashed session left behind expires after CLAIM_TTL, and is taken over at
once when its owner's process is gone.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis

from include import card_store

pytest_plugins = ("tests.support.reverse_order",)

DB_HOST = os.environ.get("DB_HOST", "127.0.0.1")
DB_PORT = int(os.environ.get("DB_PORT", "5432"))
DB_USER = os.environ.get("DB_USER", "postgres")
TEST_DB = f"acp_test_{os.getpid()}"
CARD_TABLES = ("card_subscriber", "user_scenario_result", "pipeline_dead_letter", "pipeline_run", "card_change_outbox")

_REDIS = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
REDIS_HOST = _REDIS.hostname or "127.0.0.1"
REDIS_PORT = _REDIS.port or 6379
REDIS_CLAIM_KEY = "acp-test:owner"
CLAIM_TTL = 2 * 3600  # seconds; longer than any test session, short enough after a crash
CLAIMABLE_DBS = range(1, 16)  # database 0 is the local default (scripts/env.sh)
REDIS_ROLES = ("change_events", "ops_broker", "stack_broker", "bench")

# Both run atomically in Redis, and only while the claim is still this session's.
_CLEAR_IF_OWNED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('FLUSHDB')
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
_RELEASE_IF_OWNED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('FLUSHDB')
return 1
"""


@dataclass(frozen=True)
class RedisDb:
    """A Redis database this session claimed: it may empty it, nobody else does."""

    number: int
    owner: str

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=self.number, **kwargs)

    @property
    def url(self) -> str:
        return f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.number}"

    def clear(self) -> None:
        """Empty the database (keeping the claim); fails if the claim was lost."""
        cleared = self.client().eval(_CLEAR_IF_OWNED, 1, REDIS_CLAIM_KEY, self.owner, CLAIM_TTL)
        assert cleared, f"Redis database {self.number} is no longer claimed by this session"

    def release(self) -> bool:
        return bool(self.client().eval(_RELEASE_IF_OWNED, 1, REDIS_CLAIM_KEY, self.owner))


_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
    return 1
end
return 0
"""


def _take_over_from_the_dead(db: RedisDb, owner: str) -> bool:
    """Claim a database whose owner was a test process on this machine that no longer runs
    (killed before it could release): its claim would otherwise block the next sessions for
    CLAIM_TTL. Compare-and-set, so two sessions never take over the same database."""
    held = db.client().get(REDIS_CLAIM_KEY)
    parts = held.decode(errors="replace").split() if held else []
    if len(parts) != 3 or parts[0] != "pid" or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
        return False  # still running (or a process we may not signal): its claim stands
    except ProcessLookupError:
        pass
    except PermissionError:
        return False
    return bool(db.client().eval(_TAKE_OVER, 1, REDIS_CLAIM_KEY, held, owner, CLAIM_TTL))


def claim_redis_dbs(count: int) -> list[RedisDb]:
    """Claim ``count`` free databases (empty ones first), each emptied for its new owner."""
    owner = f"pid {os.getpid()} {secrets.token_hex(8)}"
    admin = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    sizes = admin.info("keyspace")  # {"db3": {"keys": …}, …}: databases holding keys
    candidates = sorted(CLAIMABLE_DBS, key=lambda n: sizes.get(f"db{n}", {}).get("keys", 0) > 0)
    claimed: list[RedisDb] = []
    for number in candidates:
        db = RedisDb(number, owner)
        if db.client().set(REDIS_CLAIM_KEY, owner, nx=True, ex=CLAIM_TTL) or _take_over_from_the_dead(db, owner):
            db.clear()  # what a crashed former owner left
            claimed.append(db)
            if len(claimed) == count:
                return claimed
    for db in claimed:
        db.release()
    pytest.fail(f"fewer than {count} free Redis databases among {list(CLAIMABLE_DBS)} (other test sessions?)")


@pytest.fixture(scope="session")
def redis_dbs():
    """This session's Redis databases by role (REDIS_ROLES): {role: RedisDb}."""
    claimed = claim_redis_dbs(len(REDIS_ROLES))
    yield dict(zip(REDIS_ROLES, claimed))
    for db in claimed:
        db.release()


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


class CardStoreSnapshot:
    """Every card-store table as it is now, copied into a schema of the test database, so
    each test that starts from this state (e.g. after one expensive `airflow dags test`) can
    have it back exactly, whatever the tests before it changed."""

    def __init__(self, pg, name: str) -> None:
        self.pg, self.schema = pg, f"snapshot_{name}"
        statements = [f"DROP SCHEMA IF EXISTS {self.schema} CASCADE", f"CREATE SCHEMA {self.schema}"]
        statements += [f"CREATE TABLE {self.schema}.{table} AS TABLE public.{table}" for table in CARD_TABLES]
        pg.run(statements)

    def restore(self) -> None:
        statements = [f"TRUNCATE {', '.join(CARD_TABLES)} RESTART IDENTITY"]
        statements += [f"INSERT INTO public.{table} SELECT * FROM {self.schema}.{table}" for table in CARD_TABLES]
        statements += [  # the next generated ids follow the restored rows
            f"SELECT setval(pg_get_serial_sequence('public.{table}', 'id'),"
            f" coalesce((SELECT max(id) FROM public.{table}), 0) + 1, false)"
            for table in ("pipeline_dead_letter", "card_change_outbox")
        ]
        self.pg.run(statements)


@pytest.fixture(scope="session")
def redis_db(redis_dbs):
    """The change-event database (connection redis_default), emptied at the start."""
    db = redis_dbs["change_events"]
    os.environ["AIRFLOW_CONN_REDIS_DEFAULT"] = json.dumps(
        {"conn_type": "redis", "host": REDIS_HOST, "port": REDIS_PORT, "extra": {"db": db.number}}
    )
    db.clear()
    return db.client(decode_responses=True)


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


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3-compatible server (moto) for the session, wired as connection aws_default."""
    from tests.support import ARTIFACTS
    from tests.support.s3_server import aws_connection, moto_server

    with moto_server(ARTIFACTS / f"moto-{os.getpid()}.log") as endpoint:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection(endpoint)
        yield endpoint


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
