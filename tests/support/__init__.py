"""What several test modules share: the project's paths, running the DAG, the fault table and
the independent daily_brief reference."""

import socket
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
# Debian's Chromium for the browser tests (playwright drives it; it never downloads one). Without
# the background-networking flags it keeps reaching for the network this machine does not have.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(process: subprocess.Popen, url: str, timeout: float, what: str) -> None:
    """Poll ``url`` until it answers 200; fail at once when ``process`` (the server) exits, and
    after ``timeout`` seconds. ``what`` names the server and where its log is."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"{what} exited {process.returncode}"
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"{what} not answering at {url} after {timeout:.0f} s"
        time.sleep(0.2)
