"""Fixtures of the operators' tests (the CLI and the dead-letter service): the environment
`. scripts/env.sh` gives the CLI, pointed at the test services, and dead letters to work on."""

from __future__ import annotations

import os

import pytest

from include import card_store

OPS_ENV = (
    "T2A_API_URL",
    "T2A_TOKEN",
    "STAGING_URL",
    "T2A_BACKOFF_BASE",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW_API_URL",
)


@pytest.fixture(scope="session")
def ops_broker(redis_dbs):
    """The CLI's Celery broker: a Redis database of this session's own, so no real worker or
    queue is ever seen. Tests that fill it empty it again (RedisDb.clear)."""
    db = redis_dbs["ops_broker"]
    db.clear()
    return db


@pytest.fixture(scope="module")
def standin_env(t2a_server, t2a_token, card_store_db, redis_db, ops_broker, tmp_path_factory):
    """What `. scripts/env.sh` gives the CLI, pointed at the test stand-in, card store, change
    events database and broker; the environment is put back after the module."""
    from airflow.providers.celery.executors.celery_executor_utils import app as celery_app

    saved = {key: os.environ.get(key) for key in OPS_ENV}
    saved_broker = celery_app.conf.broker_url
    os.environ.update(
        {
            "T2A_API_URL": f"http://{t2a_server.host}:{t2a_server.port}",
            "T2A_TOKEN": t2a_token,
            "STAGING_URL": tmp_path_factory.mktemp("staging").as_uri(),
            "T2A_BACKOFF_BASE": "0.05",
            "AIRFLOW__CELERY__BROKER_URL": ops_broker.url,
        }
    )
    os.environ.pop("AIRFLOW_API_URL", None)  # replays go through `airflow dags test`
    # Celery's app reads the broker once, when first imported: whoever imported it first, the
    # CLI's worker ping must go to this broker too.
    celery_app.conf.broker_url = ops_broker.url
    yield os.environ["T2A_API_URL"]
    celery_app.conf.broker_url = saved_broker
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def dead_letter():
    """Record an open dead letter the way the pipeline does; returns its id."""

    def record(pg, *, run_id: str, stage: str, item_key: str, payload: dict, error: str = "boom", attempts: int = 1):
        card_store.dead_letters.record(
            pg, run_id=run_id, stage=stage, item_key=item_key, payload=payload, error=error, attempts=attempts
        )
        return pg.get_first(
            "SELECT id FROM pipeline_dead_letter WHERE run_id = %s AND stage = %s AND item_key = %s"
            " AND resolved_at IS NULL",
            parameters=(run_id, stage, item_key),
        )[0]

    return record
