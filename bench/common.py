"""What every part of the bench shares: where the project is, its error, and measured subprocesses."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class BenchError(RuntimeError):
    """A measured run failed; the message names the run and where its log is."""


def run_subprocess(cmd: list[str], log_path: Path, what: str, timeout: float = 3600) -> tuple[float, int]:
    """Run to completion with output to `log_path`; (wall seconds, peak RSS bytes of the tree)."""
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-2500:]
        raise BenchError(f"{what} exited with {proc.returncode}; full log {log_path}\n{tail}")
    return seconds, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux
