"""An S3-compatible object store for the tests: moto in server mode, a subprocess on a free
127.0.0.1 port (other processes — a Celery worker — reach it like any S3 endpoint), and the
``aws_default`` connection that points the Amazon provider at it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3

from tests.support import free_port, wait_until_healthy

REGION = "us-east-1"
# moto accepts any credentials; these only have to be present and consistent
ACCESS_KEY, SECRET_KEY = "acp-test-key", "acp-test-secret"


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """Yields the endpoint URL; the server is stopped afterwards, its log kept in ``log``."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
        try:
            wait_until_healthy(server, f"{endpoint}/moto-api/", 60, f"moto server (log {log})")
            yield endpoint
        finally:
            server.terminate()
            server.wait(timeout=30)


def aws_connection(endpoint: str) -> str:
    """AIRFLOW_CONN_AWS_DEFAULT for the server: what a deployment sets for its S3 (or MinIO)."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"endpoint_url": endpoint, "region_name": REGION},
        }
    )


def client(endpoint: str):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY
    )


def new_bucket(endpoint: str, prefix: str = "acp-staging") -> str:
    """A fresh bucket (tests never share one); returns its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    client(endpoint).create_bucket(Bucket=name)
    return name


def objects(endpoint: str, bucket: str, prefix: str = "") -> dict[str, int]:
    """Every object under ``prefix``: {key: size in bytes}."""
    pages = client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {obj["Key"]: obj["Size"] for page in pages for obj in page.get("Contents", [])}
