"""The Dockerfile's install line, run for real: SLOW (about a minute with pip's cache warm, a few
minutes on a fresh machine, which downloads every package once).

Docker cannot build the image here, so this test does what its RUN line does, in a fresh venv of
the image's Python: the very command parsed out of the Dockerfile (so the two cannot drift), with
the same requirements.txt and constraints.txt and AIRFLOW_VERSION set as the base image sets it.
Two deliberate differences: the copied files' folder in the image is this checkout, and
`--no-cache-dir` is dropped so that reruns use pip's cache (a cache changes no resolution). Then
it checks that pip installed exactly the versions constraints.txt pins, and imports the product
with the image's environment: every module of include/ and t2a_standin/, the DAGs folder
through Airflow's DagBag and the plugins through Airflow's plugin manager, as the image's
components load them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.deploy import dockerfile
from tests.deploy.test_requirements import INSTALLER_PACKAGES, canonical, requirements
from tests.support import ARTIFACTS, ROOT

pytestmark = pytest.mark.slow

IMPORT_CHECK = """
import importlib, json, pkgutil, sys
from pathlib import Path

import airflow
from airflow.dag_processing.dagbag import DagBag
from airflow import plugins_manager
from airflow.providers.postgres.hooks import postgres

root = Path(sys.argv[1])
modules = []
for package in ("include", "t2a_standin"):
    importlib.import_module(package)
    for info in pkgutil.walk_packages([str(root / package)], prefix=package + "."):
        if not info.name.endswith(".__main__"):
            importlib.import_module(info.name)
            modules.append(info.name)
bag = DagBag()
plugins = [p["name"] for p in plugins_manager.get_plugin_info()]
print(json.dumps({
    "airflow": airflow.__version__,
    "modules": modules,
    "dags": sorted(bag.dag_ids),
    "dag_import_errors": {str(k): str(v)[-500:] for k, v in bag.import_errors.items()},
    "plugins": plugins,
    "plugin_import_errors": plugins_manager.get_import_errors(),
    "psycopg3": postgres.USE_PSYCOPG3,
}))
"""


def _run(
    argv: list[str] | str, env: dict[str, str], timeout: float, shell: bool = False
) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, shell=shell)


def test_the_dockerfile_install_line_installs_the_pinned_set_and_the_product_imports():
    airflow_version, python_version = dockerfile.base_image()
    python = shutil.which(f"python{python_version}")
    assert python, f"python{python_version} (the image's Python) is not on PATH"
    run_line, copied_to = dockerfile.install_run()
    assert "pip install" in run_line and "--no-cache-dir" in run_line
    command = run_line.replace(f"{copied_to}/", f"{ROOT}/").replace("--no-cache-dir ", "")

    with tempfile.TemporaryDirectory(prefix="image-venv-") as tmp:
        venv, home = Path(tmp) / "venv", Path(tmp) / "airflow-home"
        created = _run([python, "-m", "venv", str(venv)], dict(os.environ), 120)
        assert created.returncode == 0, created.stderr
        # Only what the image's build has: its own venv first on PATH, AIRFLOW_VERSION, a HOME
        # (pip's cache). Nothing of this session's venv, PYTHONPATH or Airflow settings.
        env = {
            "PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", tmp),
            "VIRTUAL_ENV": str(venv),
            "AIRFLOW_VERSION": airflow_version,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "LANG": "C.UTF-8",
        }
        started = time.monotonic()
        install = _run(command, env, 1800, shell=True)
        install_seconds = time.monotonic() - started
        assert install.returncode == 0, f"`{command}` failed:\n{install.stdout[-3000:]}\n{install.stderr[-3000:]}"

        listed = _run([str(venv / "bin/python"), "-m", "pip", "list", "--format=json"], env, 120)
        installed = {canonical(p["name"]): p["version"] for p in json.loads(listed.stdout)}
        pins = requirements("constraints.txt")
        off = {
            name: (version, pins.get(name))
            for name, version in installed.items()
            if name not in INSTALLER_PACKAGES and pins.get(name) != version
        }
        assert not off, f"the image would get versions constraints.txt does not pin (installed, pinned): {off}"
        assert set(requirements("requirements.txt")) <= set(installed)

        image_env = {  # the Dockerfile's ENV, with this checkout where the image has /opt/project
            key: value.replace(dockerfile.env()["PYTHONPATH"], str(ROOT)) for key, value in dockerfile.env().items()
        }
        started = time.monotonic()
        checked = _run(
            [str(venv / "bin/python"), "-c", IMPORT_CHECK, str(ROOT)],
            {**env, **image_env, "AIRFLOW_HOME": str(home)},
            600,
        )
        import_seconds = time.monotonic() - started
        assert checked.returncode == 0, f"importing the product failed:\n{checked.stderr[-4000:]}"
        result = json.loads(checked.stdout.strip().splitlines()[-1])

    assert result["airflow"] == airflow_version
    assert len(result["modules"]) > 20 and "include.pipeline" in result["modules"]
    assert result["dags"] == ["adaptive_card_pipeline"] and not result["dag_import_errors"], result
    assert "card_preview" in result["plugins"] and not result["plugin_import_errors"], result
    assert result["psycopg3"], "PostgresHook would hand the card store psycopg2 connections in the image"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "image-install.txt").write_text(
        f"Dockerfile install line in a fresh python{python_version} venv: {install_seconds:.0f}s "
        f"({len(installed)} packages), product import check: {import_seconds:.0f}s\n"
    )
