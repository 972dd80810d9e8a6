"""The bench's workload sizes and its isolated world.

The bench never touches a developer's or the tests' data: its own card-store database
(`acp_bench`, recreated each run), its own Airflow metadata database
(`airflow_meta_bench`), its own Redis database (``BENCH_REDIS_DB``, default 14: the change
stream and, under a key prefix, the Celery broker), its own staging directory and its own DAGs
folder (the pipeline and the no-op DAG side by side, so the Celery workers started for the
bench can run both). The T2A stand-in serves the size's synthetic ERP on a free port, and
subscribers are seeded to fit it.

``BENCH_REDIS_DB`` lets a caller hand the bench a database it owns (the test suite passes one
it claimed for its session, so a bench run inside the tests never meets another session's).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

from bench.common import ROOT, run_subprocess
from include import card_store, change_events
from include.config import T2A_POOL, settings
from t2a_standin import seed
from t2a_standin.data import PRESETS, DataConfig
from t2a_standin.server import RunningStandin, serve_in_thread

CARD_DB = "acp_bench"
META_DB = "airflow_meta_bench"


def _redis_db() -> int:
    value = os.environ.get("BENCH_REDIS_DB", "14")
    if not value.isdigit() or int(value) == 0:
        raise ValueError(f"BENCH_REDIS_DB={value!r}: not a Redis database number other than 0 (the local default)")
    return int(value)


REDIS_DB = _redis_db()
CARD_TABLES = "user_scenario_result, pipeline_dead_letter, pipeline_run, card_change_outbox"
DAG_FILES = (ROOT / "dags" / "adaptive_card_pipeline.py", ROOT / "bench" / "noop_dag" / "noop_pipeline.py")


@dataclass(frozen=True)
class Size:
    name: str
    data: DataConfig
    subscribers: int
    batch_size: int  # SUBSCRIBER_BATCH_SIZE: large gets 20 batches of 1,000
    predecessor_sample: int  # subscribers the per-subscriber loop is timed on (scaled to all)


SIZES = {
    "small": Size("small", PRESETS["small"], 300, 100, 300),
    "medium": Size(
        "medium",
        DataConfig(
            orgs=12, accounts_per_org=300, product_groups_per_org=10, materials_per_account=50, materials_per_org=400
        ),
        4_000,
        500,
        200,
    ),
    "large": Size("large", PRESETS["large"], 20_000, 1_000, 300),
}


def _pg(dbname: str) -> psycopg.Connection:
    return psycopg.connect(
        host=os.environ.get("DB_HOST", "127.0.0.1"),
        port=int(os.environ.get("DB_PORT", "5432")),
        user=os.environ.get("DB_USER", "postgres"),
        password=os.environ.get("DB_PASSWORD"),
        dbname=dbname,
        autocommit=True,
    )


def _dags_folder(folder: Path) -> Path:
    """Symlinks to the DAG files the bench runs (the no-op DAG is never deployed with dags/)."""
    for dag_file in DAG_FILES:
        (folder / dag_file.name).symlink_to(dag_file)
    return folder


def _environment(standin: RunningStandin, token: str, size: Size, staging: Path, dags: Path) -> dict[str, str]:
    host, port = os.environ.get("DB_HOST", "127.0.0.1"), int(os.environ.get("DB_PORT", "5432"))
    user, password = os.environ.get("DB_USER", "postgres"), os.environ.get("DB_PASSWORD")
    auth = user + (f":{password}" if password else "")
    card = {"conn_type": "postgres", "host": host, "port": port, "login": user, "schema": CARD_DB}
    if password:
        card["password"] = password
    redis_url = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{auth}@{host}:{port}/{META_DB}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_CARD_STORE": json.dumps(card),
        "AIRFLOW_CONN_REDIS_DEFAULT": json.dumps(
            {
                "conn_type": "redis",
                "host": redis_url.hostname or "127.0.0.1",
                "port": redis_url.port or 6379,
                "extra": {"db": REDIS_DB},
            }
            | ({"password": redis_url.password} if redis_url.password else {})
        ),
        "AIRFLOW_CONN_T2A_API": json.dumps(
            {"conn_type": "http", "host": standin.host, "port": standin.port, "schema": "http", "password": token}
        ),
        "STAGING_URL": staging.as_uri(),
        "SUBSCRIBER_BATCH_SIZE": str(size.batch_size),
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }


def _fresh_card_store() -> None:
    with _pg("postgres") as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{CARD_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{CARD_DB}"')
    card_store.schema.migrate(card_store.hook())


def _migrated_metadata(logs: Path) -> None:
    with _pg("postgres") as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (META_DB,)).fetchone():
            admin.execute(f'CREATE DATABASE "{META_DB}"')
    run_subprocess(["airflow", "db", "migrate"], logs / "airflow-db-migrate.log", f"airflow db migrate ({META_DB})")
    # fetch_org's pool (a task whose pool is missing is never scheduled), as scripts/setup.sh sets it.
    slots = str(settings().max_workers_sales)
    run_subprocess(
        ["airflow", "pools", "set", T2A_POOL, slots, "T2A org fetches in flight across all runs (MAX_WORKERS_SALES)"],
        logs / "airflow-pools-set.log",
        f"airflow pools set {T2A_POOL} {slots} ({META_DB})",
    )


def reset_card_results() -> None:
    """Empty what a run writes (cards, runs, outbox, dead letters) and the change stream."""
    card_store.hook().run(f"TRUNCATE {CARD_TABLES} RESTART IDENTITY")
    conn = json.loads(os.environ["AIRFLOW_CONN_REDIS_DEFAULT"])
    assert conn["extra"]["db"] == REDIS_DB, "never touch another Redis database"
    # Only the stream: the database may be shared (the stack tests keep Celery keys in it).
    redis.Redis(host=conn["host"], port=conn["port"], password=conn.get("password"), db=REDIS_DB).delete(
        change_events.STREAM
    )


@contextmanager
def card_store_writes() -> Iterator[dict]:
    """What the block's run wrote, filled in when the block ends: the card rows it wrote
    (`updated_at` inside the block) and their JSON bytes, the WAL the cluster generated
    meanwhile (bytes PostgreSQL wrote; Airflow's metadata database is in the same cluster, so it
    is included) and the card table's size on disk afterwards (heap, TOAST and indexes)."""
    pg = card_store.hook()
    since, lsn = pg.get_first("SELECT clock_timestamp(), pg_current_wal_lsn()")
    figures: dict = {}
    yield figures
    rows, json_bytes, wal, table = pg.get_first(
        "SELECT count(*), coalesce(sum(octet_length(pages::text) + octet_length(cards::text)), 0),"
        " pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn), pg_total_relation_size('user_scenario_result')"
        " FROM user_scenario_result WHERE updated_at >= %s",
        parameters=(lsn, since),
    )
    figures.update(rows_written=rows, json_bytes_written=int(json_bytes), wal_bytes=int(wal), table_bytes=table)


@contextmanager
def isolated_world(size: Size, logs: Path) -> Iterator[RunningStandin]:
    """Bench databases, Redis db, staging dir, DAGs folder and a stand-in for `size`, set in
    os.environ (so every subprocess inherits them); restores the environment afterwards."""
    token = secrets.token_urlsafe(16)
    staging = Path(tempfile.mkdtemp(prefix=f"acp_bench_{size.name}_"))
    dags = Path(tempfile.mkdtemp(prefix="acp_bench_dags_"))
    saved = dict(os.environ)
    try:
        with serve_in_thread(size.data, token) as standin:
            os.environ.update(_environment(standin, token, size, staging, _dags_folder(dags)))
            _fresh_card_store()
            _migrated_metadata(logs)
            reset_card_results()
            seed.seed(card_store.hook(), standin.dataset, size.subscribers)
            yield standin
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(dags, ignore_errors=True)
