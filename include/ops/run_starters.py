"""How operators start a DAG run: the Airflow REST API, or ``airflow dags test`` in a subprocess."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests
from airflow.providers.postgres.hooks.postgres import PostgresHook

from include import card_store
from include.config import DAG_ID

log = logging.getLogger(__name__)

TERMINAL_STATES = ("success", "failed")


class RunStartError(RuntimeError):
    """A run could not be started or followed; the message says where and why."""


def dags_test(logical_date: str, conf: dict, log_path: Path, timeout: float) -> int:
    """One ``airflow dags test`` of the pipeline to completion, output to ``log_path``;
    returns its exit code."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, logical_date, "--conf", json.dumps(conf)]
    started = time.monotonic()
    with log_path.open("w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    log.info(
        "airflow dags test %s exited %d after %.0fs; log %s",
        logical_date,
        proc.returncode,
        time.monotonic() - started,
        log_path,
    )
    return proc.returncode


class RunStarter:
    """Starts a DAG run with a given conf; subclasses say how."""

    def new_run_id(self) -> str:
        raise NotImplementedError

    def start(self, run_id: str, conf: dict) -> None:
        raise NotImplementedError

    def run_ended(self, run_id: str) -> bool:
        raise NotImplementedError

    def airflow_run_id(self, pg: PostgresHook, run_id: str) -> str | None:
        """Airflow's id of the run started as ``run_id`` (None: it left no trace)."""
        return run_id


class AirflowApi(RunStarter):
    """The Airflow REST API (v2) with a JWT from ``POST /auth/token``."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.username, self._password, self.timeout = username, password, timeout
        self._token: str | None = None

    @classmethod
    def from_env(cls) -> AirflowApi | None:
        """From AIRFLOW_API_URL / _USERNAME / _PASSWORD; None when no api-server is configured.

        Without AIRFLOW_API_PASSWORD the simple auth manager's generated passwords file is
        read (local stacks); a deployment sets the variable.
        """
        url = os.environ.get("AIRFLOW_API_URL")
        if not url:
            return None
        username = os.environ.get("AIRFLOW_API_USERNAME") or "admin"
        password = os.environ.get("AIRFLOW_API_PASSWORD") or _simple_auth_password(username)
        if not password:
            raise RunStartError(f"AIRFLOW_API_URL is {url} but no password for {username}: set AIRFLOW_API_PASSWORD")
        return cls(url, username, password)

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            resp = requests.post(
                f"{self.base_url}/auth/token",
                timeout=self.timeout,
                json={"username": self.username, "password": self._password},
            )
            if resp.status_code not in (200, 201):
                raise RunStartError(
                    f"Airflow at {self.base_url} refused a token for {self.username}: HTTP {resp.status_code}"
                )
            self._token = resp.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def new_run_id(self) -> str:
        return f"replay__{datetime.now(UTC):%Y-%m-%dT%H:%M:%S}_{uuid.uuid4().hex[:6]}"

    def start(self, run_id: str, conf: dict) -> None:
        resp = requests.post(
            f"{self.base_url}/api/v2/dags/{DAG_ID}/dagRuns",
            headers=self._headers(),
            timeout=self.timeout,
            json={
                "dag_run_id": run_id,
                "logical_date": datetime.now(UTC).isoformat(),
                "conf": conf,
                "note": "dead-letter replay",
            },
        )
        if resp.status_code not in (200, 201):
            raise RunStartError(f"Airflow refused to start run {run_id}: HTTP {resp.status_code} {resp.text[:300]}")

    def state(self, run_id: str) -> str:
        resp = requests.get(
            f"{self.base_url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", headers=self._headers(), timeout=self.timeout
        )
        resp.raise_for_status()
        return resp.json()["state"]

    def run_ended(self, run_id: str) -> bool:
        return self.state(run_id) in TERMINAL_STATES

    def wait(
        self, run_id: str, timeout: float, poll: float = 2.0, on_poll: Callable[[str], None] = lambda state: None
    ) -> str:
        """Poll until the run is terminal or ``timeout`` seconds passed; returns the last state."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state(run_id)
            on_poll(state)
            if state in TERMINAL_STATES or time.monotonic() >= deadline:
                return state
            time.sleep(poll)


def _simple_auth_password(username: str) -> str | None:
    from airflow.configuration import conf

    path = conf.get("core", "simple_auth_manager_passwords_file", fallback=None)
    if not path or not Path(path).is_file():
        return None
    return json.loads(Path(path).read_text()).get(username)


class DagsTest(RunStarter):
    """``airflow dags test`` in a subprocess: no api-server needed; the run is over when it returns.

    Airflow names such a run after the moment it starts (``manual__<run_after>``), so rows are
    claimed under a placeholder (``dags-test@<logical date>``) and moved to the real run id,
    found by the logical date in ``pipeline_run``, once the process has returned.
    """

    def __init__(self, log_dir: Path, timeout: float = 1800.0) -> None:
        self.log_dir, self.timeout = log_dir, timeout
        self.returncodes: dict[str, int] = {}

    def new_run_id(self) -> str:
        return f"dags-test@{datetime.now(UTC).isoformat()}"  # microseconds keep two replays apart

    def start(self, run_id: str, conf: dict) -> None:
        log_path = self.log_dir / f"replay-{run_id.removeprefix('dags-test@').replace(':', '-')}.log"
        self.returncodes[run_id] = dags_test(_logical_date(run_id), conf, log_path, self.timeout)

    def airflow_run_id(self, pg: PostgresHook, run_id: str) -> str | None:
        run = card_store.runs.latest_run(pg, datetime.fromisoformat(_logical_date(run_id)))
        if run:
            self.returncodes[run["run_id"]] = self.returncodes[run_id]
        return run["run_id"] if run else None

    def run_ended(self, run_id: str) -> bool:
        return run_id in self.returncodes


def _logical_date(placeholder: str) -> str:
    return placeholder.removeprefix("dags-test@")


def starter_from_env(log_dir: Path) -> RunStarter:
    """The REST API when AIRFLOW_API_URL is set, else ``airflow dags test``."""
    return AirflowApi.from_env() or DagsTest(log_dir)
