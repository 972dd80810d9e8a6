"""Reading the Dockerfile: shared by test_compose.py (checks it) and test_image_install.py (runs it)."""

from __future__ import annotations

import re

from tests.support import ROOT


def text() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


def base_image() -> tuple[str, str]:
    """(Airflow version, Python version) of `FROM apache/airflow:<version>-python<x.y>`."""
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\S+)", text(), re.M)
    assert base, "Dockerfile: FROM apache/airflow:<version>-python<x.y> not found"
    return base.group(1), base.group(2)


def install_run() -> tuple[str, str]:
    """(the shell command of the one RUN that pip-installs, the folder requirements are copied to)."""
    dockerfile = text()
    copied = re.search(r"^COPY \S* ?requirements\.txt constraints\.txt (\S+)$", dockerfile, re.M)
    assert copied, "Dockerfile: requirements.txt and constraints.txt are not copied together"
    runs = [r for r in re.findall(r"^RUN ((?:.*\\\n)*.*)", dockerfile, re.M) if "pip install" in r]
    assert len(runs) == 1, f"Dockerfile: want one RUN with pip install, found {len(runs)}"
    return " ".join(runs[0].replace("\\\n", " ").split()), copied.group(1).rstrip("/")


def env() -> dict[str, str]:
    """The image's ENV settings."""
    joined = text().replace("\\\n", " ")
    return dict(re.findall(r"(\w+)=(\S+)", " ".join(re.findall(r"^ENV (.+)$", joined, re.M))))
