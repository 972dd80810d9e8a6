"""Airflow connections derived from the predecessor's environment variables.

The system this replaces was configured with DB_*, REDIS_URL and T2A_API_URL. Operators keep
those; this module turns them into the three connections the DAG uses, as AIRFLOW_CONN_*
JSON values. An AIRFLOW_CONN_* variable that is already set is never overridden, so a real
deployment (or a secrets backend) stays in charge. Run as a module it prints shell exports.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit


def connections_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """Return {ENV_VAR_NAME: connection JSON} for each connection not already set."""
    t2a = urlsplit(env.get("T2A_API_URL", "http://127.0.0.1:8765"))
    redis = urlsplit(env.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    wanted = {
        "AIRFLOW_CONN_T2A_API": {
            "conn_type": "http",
            "host": t2a.hostname,
            "port": t2a.port,
            "schema": t2a.scheme or "http",
            "password": env.get("T2A_TOKEN"),
        },
        "AIRFLOW_CONN_CARD_STORE": {
            "conn_type": "postgres",
            "host": env.get("DB_HOST", "127.0.0.1"),
            "port": int(env.get("DB_PORT", "5432")),
            "login": env.get("DB_USER", "postgres"),
            "password": env.get("DB_PASSWORD"),
            "schema": env.get("DB_NAME", "adaptive_card_db"),
        },
        "AIRFLOW_CONN_REDIS_DEFAULT": {
            "conn_type": "redis",
            "host": redis.hostname or "127.0.0.1",
            "port": redis.port or 6379,
            "password": redis.password,
            "extra": {"db": int((redis.path or "/0").lstrip("/") or 0)},
        },
    }
    return {
        name: json.dumps({k: v for k, v in conn.items() if v is not None})
        for name, conn in wanted.items()
        if not env.get(name)
    }


if __name__ == "__main__":
    for name, value in connections_from_env(os.environ).items():
        sys.stdout.write(f"export {name}={shlex.quote(value)}\n")
