"""The executor the bench measures Airflow on: the CeleryExecutor, as `scripts/stack.sh` runs it.

`airflow dags test --use-executor` schedules in its own process and hands every task to the
executor, so the bench starts what that needs and nothing more: an api-server (the task
runners' execution API) and one Celery worker per queue with the deployment's concurrency
knobs (MAX_WORKERS_SALES / MAX_WORKERS_ADAPTIVE). Broker: the bench's Redis database under a
key prefix of its own; result backend: the bench's metadata database. Each component runs in a
session of its own (task processes stay in their worker's session), so stopping a session
stops everything the component started.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
import requests
from celery import Celery

from bench.common import ROOT, BenchError
from bench.workload import REDIS_DB
from include.config import settings

BROKER_KEY_PREFIX = "acp-bench:"
START_TIMEOUT = 180  # seconds for the api-server and both workers to answer
SAMPLE_EVERY = 0.5  # seconds between memory samples
STOP_GRACE = 30  # seconds between TERM and KILL (Celery's warm shutdown lets running tasks finish)
# The worker's own line for each task it runs; the workload names the task instance by id.
EXECUTED = re.compile(r"Executing workload in Celery: .*? ti=TaskInstance\w*\(id=UUID\('([0-9a-f-]+)'\)")


@dataclass(frozen=True)
class Worker:
    component: str  # log file stem
    queues: str
    concurrency: int
    hostname: str  # Celery node name


@dataclass
class Component:
    name: str
    proc: subprocess.Popen
    log: Path


class MemoryPeaks:
    """Peak RSS (VmHWM) of every process in the workers' sessions, polled every SAMPLE_EVERY.

    Celery's pool processes and the task processes they fork stay in their worker's session, so
    the session covers every task. VmHWM only grows, so a poll misses at most what a process
    gained in its last SAMPLE_EVERY: the figures are a close lower bound.
    """

    def __init__(self, main_pids: set[int]):
        self.main_pids = main_pids
        self.by_pid: dict[int, int] = {}

    def sample_until(self, done: threading.Event) -> None:
        while True:
            for pid in session_pids(self.main_pids):
                try:
                    hwm = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
                except OSError:
                    continue
                if hwm:  # kernel threads and zombies have none
                    self.by_pid[pid] = max(self.by_pid.get(pid, 0), int(hwm.group(1)) * 1024)
            if done.wait(SAMPLE_EVERY):
                return

    @property
    def task(self) -> int:
        """The heaviest process a worker started (pool and task processes), bytes."""
        return max((rss for pid, rss in self.by_pid.items() if pid not in self.main_pids), default=0)

    @property
    def workers(self) -> int:
        """The heaviest worker main process, bytes."""
        return max((rss for pid, rss in self.by_pid.items() if pid in self.main_pids), default=0)


@dataclass
class CeleryExecutor:
    """The running components; `main_pids` are the workers' main processes (= their sessions)."""

    workers: list[Worker]
    components: list[Component]
    logs: Path

    @property
    def main_pids(self) -> set[int]:
        return {c.proc.pid for c in self.components if c.name.startswith("worker-")}

    @contextmanager
    def memory_peaks(self) -> Iterator[MemoryPeaks]:
        """Sample the workers' processes while the block runs (see MemoryPeaks)."""
        peaks, done = MemoryPeaks(self.main_pids), threading.Event()
        sampler = threading.Thread(target=peaks.sample_until, args=(done,), daemon=True)
        sampler.start()
        try:
            yield peaks
        finally:
            done.set()
            sampler.join()

    def describe(self) -> dict:
        return {
            "executor": "CeleryExecutor",
            "workers": {w.hostname: {"queues": w.queues, "concurrency": w.concurrency} for w in self.workers},
        }

    def executed_by(self) -> dict[str, str]:
        """Task instance id -> Celery node of the worker that ran it (from the workers' logs)."""
        return {
            ti_id: worker.hostname
            for worker in self.workers
            for ti_id in EXECUTED.findall((self.logs / f"{worker.component}.log").read_text(errors="replace"))
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _broker_url() -> str:
    url = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return urlunsplit((url.scheme, url.netloc, f"/{REDIS_DB}", "", ""))


def _start(name: str, args: list[str], logs: Path, env: dict[str, str] | None = None) -> Component:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=os.environ | (env or {}),
            start_new_session=True,
        )
    return Component(name, proc, log)


def _wait_until(what: str, ready: Callable[[], bool], components: list[Component], deadline: float) -> None:
    """Poll `ready()` once a second; fail as soon as a started component has exited."""
    while True:
        for c in components:
            if c.proc.poll() is not None:
                tail = c.log.read_text(errors="replace")[-2500:]
                raise BenchError(f"{c.name} exited with {c.proc.returncode} during start; full log {c.log}\n{tail}")
        if ready():
            return
        if time.monotonic() > deadline:
            raise BenchError(
                f"timed out after {START_TIMEOUT}s waiting for {what}; logs in "
                + ", ".join(str(c.log) for c in components)
            )
        time.sleep(1)


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def session_pids(sessions: set[int]) -> list[int]:
    """Every process whose session id is in `sessions` (field 6 of /proc/<pid>/stat)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[3]) in sessions:
                pids.append(int(proc.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


def _stop(components: list[Component]) -> None:
    """TERM each component's process group, wait up to STOP_GRACE, then KILL its whole session."""
    for c in components:
        with suppress(ProcessLookupError):
            os.killpg(c.proc.pid, signal.SIGTERM)
    sessions = {c.proc.pid for c in components}
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline:
        for c in components:
            c.proc.poll()  # reap our own children: a zombie still counts as in its session
        if not session_pids(sessions):
            return
        time.sleep(0.2)
    for pid in session_pids(sessions):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for c in components:
        c.proc.wait()


@contextmanager
def celery_executor(logs: Path) -> Iterator[CeleryExecutor]:
    """Run the api-server and both workers inside the bench's world (call it inside
    `isolated_world`: the DAGs folder, metadata database and Redis database come from there)."""
    api_port = _free_port()
    cfg = settings()
    broker = _broker_url()
    saved = dict(os.environ)
    os.environ.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": BROKER_KEY_PREFIX,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        }
    )
    host = socket.gethostname()
    workers = [
        Worker("worker-sales", "default,sales_org", cfg.max_workers_sales, f"bench-sales@{host}"),
        Worker("worker-adaptive", "adaptive_card", cfg.max_workers_adaptive, f"bench-adaptive@{host}"),
    ]
    components: list[Component] = []
    with tempfile.TemporaryDirectory(prefix="acp_bench_api_") as api_home:
        # The api-server writes the admin's generated password here, not into AIRFLOW_HOME.
        os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = f"{api_home}/passwords.json"
        try:
            deadline = time.monotonic() + START_TIMEOUT
            components.append(_start("api-server", ["api-server", "--port", str(api_port)], logs))
            _wait_until(
                "the api-server's execution API",
                lambda: _http_ok(f"http://127.0.0.1:{api_port}/execution/health"),
                components,
                deadline,
            )
            for w in workers:
                components.append(
                    _start(
                        w.component,
                        [
                            "celery",
                            "worker",
                            "--queues",
                            w.queues,
                            "--concurrency",
                            str(w.concurrency),
                            "--celery-hostname",
                            w.hostname.replace(host, "%h"),
                        ],
                        logs,
                        {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port())},
                    )
                )
            with Celery(broker=broker) as app:
                app.conf.broker_transport_options = {"global_keyprefix": BROKER_KEY_PREFIX}
                wanted = {w.hostname for w in workers}
                _wait_until(
                    "both Celery workers to answer a ping",
                    lambda: (
                        wanted
                        <= {
                            name
                            for reply in app.control.ping(destination=sorted(wanted), timeout=1.0)
                            for name in reply
                        }
                    ),
                    components,
                    deadline,
                )
            yield CeleryExecutor(workers, components, logs)
        finally:
            # Workers first (they finish running tasks against the api-server), then the api-server.
            _stop([c for c in components if c.name != "api-server"])
            _stop([c for c in components if c.name == "api-server"])
            broker_db = redis.Redis.from_url(broker)
            for key in broker_db.scan_iter(f"{BROKER_KEY_PREFIX}*"):
                broker_db.delete(key)
            os.environ.clear()
            os.environ.update(saved)
