"""The predecessor's DB_*, REDIS_URL and T2A_API_URL turned into the DAG's three connections:
the JSON they become, what is left alone, the shell exports, and that the connections made
from them really reach PostgreSQL, Redis and the T2A stand-in."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from types import SimpleNamespace

from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.providers.redis.hooks.redis import RedisHook

from include.connections_env import connections_from_env
from include.t2a_client import T2AClient
from tests.conftest import DB_HOST, DB_PORT, DB_USER
from tests.support import ROOT

NAMES = ["AIRFLOW_CONN_T2A_API", "AIRFLOW_CONN_CARD_STORE", "AIRFLOW_CONN_REDIS_DEFAULT"]


def parsed(env: dict[str, str]) -> dict[str, dict]:
    return {name: json.loads(value) for name, value in connections_from_env(env).items()}


def test_local_defaults_without_any_variable():
    assert parsed({}) == {
        "AIRFLOW_CONN_T2A_API": {"conn_type": "http", "host": "127.0.0.1", "port": 8765, "schema": "http"},
        "AIRFLOW_CONN_CARD_STORE": {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": 5432,
            "login": "postgres",
            "schema": "adaptive_card_db",
        },
        "AIRFLOW_CONN_REDIS_DEFAULT": {"conn_type": "redis", "host": "127.0.0.1", "port": 6379, "extra": {"db": 0}},
    }


def test_the_predecessors_variables_fill_the_connections():
    conns = parsed(
        {
            "T2A_API_URL": "https://t2a.example.com:9443/ignored/path",
            "T2A_TOKEN": "s3cret",
            "DB_HOST": "db.internal",
            "DB_PORT": "6432",
            "DB_USER": "cards",
            "DB_PASSWORD": "pw",
            "DB_NAME": "cards_db",
            "REDIS_URL": "redis://:redispw@cache.internal:6380/4",
        }
    )
    assert conns["AIRFLOW_CONN_T2A_API"] == {
        "conn_type": "http",
        "host": "t2a.example.com",
        "port": 9443,
        "schema": "https",
        "password": "s3cret",
    }
    assert conns["AIRFLOW_CONN_CARD_STORE"] == {
        "conn_type": "postgres",
        "host": "db.internal",
        "port": 6432,
        "login": "cards",
        "password": "pw",
        "schema": "cards_db",
    }
    assert conns["AIRFLOW_CONN_REDIS_DEFAULT"] == {
        "conn_type": "redis",
        "host": "cache.internal",
        "port": 6380,
        "password": "redispw",
        "extra": {"db": 4},
    }
    # a Redis URL without a database number means database 0
    assert parsed({"REDIS_URL": "redis://cache.internal:6380"})["AIRFLOW_CONN_REDIS_DEFAULT"]["extra"] == {"db": 0}


def test_a_connection_already_set_is_never_overridden():
    env = {"AIRFLOW_CONN_CARD_STORE": '{"conn_type": "postgres", "host": "vault"}', "DB_HOST": "elsewhere"}
    assert list(connections_from_env(env)) == ["AIRFLOW_CONN_T2A_API", "AIRFLOW_CONN_REDIS_DEFAULT"]
    # set but empty counts as not set
    assert list(connections_from_env({"AIRFLOW_CONN_CARD_STORE": ""})) == NAMES


def test_run_as_a_module_it_prints_shell_exports():
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "T2A_TOKEN": "it's a token",  # a quote, to see the value is shell-quoted
        "AIRFLOW_CONN_REDIS_DEFAULT": "redis://set-elsewhere",
    }
    out = subprocess.run(
        [sys.executable, "-m", "include.connections_env"], env=env, capture_output=True, text=True, check=True
    ).stdout
    exported = {}
    for line in out.splitlines():
        word, assignment = shlex.split(line)
        assert word == "export"
        name, _, value = assignment.partition("=")
        exported[name] = value
    assert exported == connections_from_env(env)
    assert list(exported) == ["AIRFLOW_CONN_T2A_API", "AIRFLOW_CONN_CARD_STORE"]
    assert json.loads(exported["AIRFLOW_CONN_T2A_API"])["password"] == "it's a token"


def test_the_connections_reach_the_real_services(card_store_db, redis_db, t2a_server, t2a_token, monkeypatch):
    redis = SimpleNamespace(**{k: redis_db.connection_pool.connection_kwargs[k] for k in ("host", "port", "db")})
    conns = connections_from_env(
        {
            "DB_HOST": DB_HOST,
            "DB_PORT": str(DB_PORT),
            "DB_USER": DB_USER,
            "DB_NAME": card_store_db,
            "REDIS_URL": f"redis://{redis.host}:{redis.port}/{redis.db}",
            "T2A_API_URL": f"http://{t2a_server.host}:{t2a_server.port}",
            "T2A_TOKEN": t2a_token,
        }
    )
    # under their own ids, so the session's own connections stay as they are
    for name, value in conns.items():
        monkeypatch.setenv(name.replace("AIRFLOW_CONN_", "AIRFLOW_CONN_FROM_ENV_"), value)

    pg = PostgresHook(postgres_conn_id="from_env_card_store")
    assert pg.get_first("SELECT current_database()")[0] == card_store_db

    client = RedisHook(redis_conn_id="from_env_redis_default").get_conn()
    client.set("connections_env_probe", "seen")
    try:
        assert redis_db.get("connections_env_probe") == "seen"  # the same database the tests use
    finally:
        redis_db.delete("connections_env_probe")

    orgs = T2AClient("from_env_t2a_api", max_attempts=1).list_sales_orgs()
    assert [org.code for org in orgs] == [o["code"] for o in t2a_server.dataset.orgs()]
