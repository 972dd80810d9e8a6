"""docker-compose.yaml and the Dockerfile, checked without Docker against the code they deploy.

Docker is not available where the tests run, so these tests read the files and hold them to
what the code needs: every component and one worker per queue the DAG uses, every setting the
code and the local scripts read, hosts that are real services, and an image built from the
pinned Airflow version with the project's own requirements and constraints.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import sys
from urllib.parse import urlsplit

import pytest
import yaml

from include.connections_env import connections_from_env
from tests.support import ROOT

PLACEHOLDER = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def _text(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def _str(value) -> str:
    return " ".join(value) if isinstance(value, list) else str(value or "")


def _fill(value: str) -> str:
    """A compose string with each ${VAR...} replaced by a token that is valid inside JSON."""
    return PLACEHOLDER.sub("x", value)


@pytest.fixture(scope="module")
def services() -> dict[str, dict]:
    compose = yaml.safe_load(_text("docker-compose.yaml"))
    assert isinstance(compose, dict) and isinstance(compose.get("services"), dict), (
        "docker-compose.yaml: no top-level 'services' mapping"
    )
    return compose["services"]


def _airflow(services: dict) -> dict[str, dict]:
    """Services running the project image (build: . / the image tag built from it)."""
    return {name: svc for name, svc in services.items() if svc.get("build") == "."}


def _by_command(services: dict, words: str) -> list[str]:
    return [name for name, svc in _airflow(services).items() if _str(svc.get("command")).startswith(words)]


def _worker_queues(services: dict) -> dict[str, tuple[set[str], str]]:
    """{worker service: ({queues}, concurrency expression)} from its celery worker command."""
    workers = {}
    for name in _by_command(services, "celery worker"):
        command = _str(services[name]["command"])
        queues = re.search(r"--queues[ =](\S+)", command)
        concurrency = re.search(r"--concurrency[ =](\S+)", command)
        assert queues and concurrency, f"service {name}: worker command without --queues/--concurrency: {command}"
        workers[name] = (set(queues.group(1).split(",")), concurrency.group(1))
    return workers


def _dag_queues() -> set[str]:
    """Queues the DAG's tasks name (queue=...), plus Airflow's default queue for the rest."""
    tree = ast.parse(_text("dags/adaptive_card_pipeline.py"))
    named = {
        kw.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg == "queue" and isinstance(kw.value, ast.Constant)
    }
    return named | {"default"}


def _config_env_defaults() -> dict[str, object]:
    """{variable: literal default or None} for every variable include/config.py reads."""
    tree = ast.parse(_text("include/config.py"))
    found: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):  # os.environ.get("X") or "d"
            first, default = node.values[0], node.values[-1]
            if isinstance(first, ast.Call) and ast.unparse(first.func) == "os.environ.get":
                found[first.args[0].value] = default.value if isinstance(default, ast.Constant) else None
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("_int", "_float"):
            found[node.args[0].value] = node.args[1].value
    return found


def test_every_component_has_a_service(services):
    images = {name: svc.get("image", "") for name, svc in services.items()}
    assert [n for n, i in images.items() if i.startswith("postgres:")], "no postgres service"
    assert [n for n, i in images.items() if i.startswith("redis:")], "no redis service"
    for command in ("api-server", "scheduler", "dag-processor", "triggerer", "celery flower"):
        assert len(_by_command(services, command)) == 1, f"want exactly one service running `{command}`"
    init = [n for n, s in _airflow(services).items() if "airflow db migrate" in _str(s.get("command"))]
    assert len(init) == 1, "want one init service running `airflow db migrate`"
    assert "python -m include.card_store migrate" in _str(services[init[0]]["command"])
    standin = [n for n, s in _airflow(services).items() if "t2a_standin" in _str(s.get("entrypoint"))]
    assert len(standin) == 1, "want one service running the T2A stand-in"


def test_each_dag_queue_has_exactly_one_worker_sized_by_its_variable(services):
    workers = _worker_queues(services)
    for queue in sorted(_dag_queues()):
        serving = [name for name, (queues, _) in workers.items() if queue in queues]
        assert len(serving) == 1, f"queue {queue!r}: served by {serving}, want exactly one worker service"
    sizing = {"sales_org": "MAX_WORKERS_SALES", "adaptive_card": "MAX_WORKERS_ADAPTIVE"}
    for queue, variable in sizing.items():
        (name,) = [n for n, (queues, _) in workers.items() if queue in queues]
        assert workers[name][1].startswith("${" + variable), (
            f"worker {name} (queue {queue}): --concurrency {workers[name][1]}, want ${{{variable}...}}"
        )


def _required_settings() -> set[str]:
    """What Airflow components read: the settings the local scripts export, the connections."""
    env_sh, setup_sh, stack_sh = _text("scripts/env.sh"), _text("scripts/setup.sh"), _text("scripts/stack.sh")
    exported = set(re.findall(r"^export (AIRFLOW\w*|PYTHONPATH)=", env_sh + stack_sh, re.M))
    secrets = set(re.findall(r'print\(f"(AIRFLOW__\w+)=', setup_sh))
    assert secrets, "scripts/setup.sh: found no generated AIRFLOW__* secrets to check"
    # Local-only knobs: ports of parallel stacks on one host (containers each have their own).
    local_only = {
        "AIRFLOW__API__PORT",
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
        "AIRFLOW__CELERY__FLOWER_HOST",
        "AIRFLOW_HOME",
    }
    return (exported | secrets | set(connections_from_env({})) | set(_config_env_defaults())) - local_only


def _dockerfile_env() -> dict[str, str]:
    text = _text("Dockerfile").replace("\\\n", " ")
    return dict(re.findall(r"(\w+)=(\S+)", " ".join(re.findall(r"^ENV (.+)$", text, re.M))))


def test_airflow_services_get_every_setting_the_code_reads(services):
    required = _required_settings()
    image_env = set(_dockerfile_env())
    for name in (
        *_by_command(services, "api-server"),
        *_by_command(services, "scheduler"),
        *_by_command(services, "dag-processor"),
        *_by_command(services, "triggerer"),
        *_by_command(services, "celery"),
    ):
        env = services[name].get("environment") or {}
        assert isinstance(env, dict), f"service {name}: environment must be a mapping"
        missing = sorted(required - set(env) - image_env)
        assert not missing, f"service {name}: not set in its environment or the image: {missing}"


def test_compose_fallbacks_equal_the_code_defaults(services):
    env = services[_by_command(services, "scheduler")[0]]["environment"]
    for variable, default in _config_env_defaults().items():
        match = PLACEHOLDER.fullmatch(str(env[variable]))
        if default is None or not match or match.group(2) != "-":
            continue
        fallback = type(default)(match.group(3)) if isinstance(default, (int, float)) else match.group(3)
        assert fallback == default, (
            f"{variable}: compose falls back to {match.group(3)!r}, include/config.py to {default!r}"
        )


def test_hosts_in_urls_and_connections_are_services_on_their_ports(services):
    env = services[_by_command(services, "scheduler")[0]]["environment"]
    standin = next(s for s in services.values() if "t2a_standin" in _str(s.get("entrypoint")))
    standin_port = int(re.search(r"--port (\d+)", _str(standin["command"])).group(1))
    api_port = int(re.search(r"^port = (\d+)$", _text("airflow.cfg"), re.M).group(1))
    ports = {"postgres": 5432, "redis": 6379}
    ports[next(n for n, s in services.items() if s is standin)] = standin_port
    ports[_by_command(services, "api-server")[0]] = api_port
    targets = {
        v: urlsplit(_fill(env[v]).removeprefix("db+"))
        for v in (
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
            "AIRFLOW__CELERY__RESULT_BACKEND",
            "AIRFLOW__CELERY__BROKER_URL",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        )
    }
    for variable in connections_from_env({}):
        conn = json.loads(_fill(env[variable]))
        targets[variable] = urlsplit(f"x://{conn['host']}:{conn['port']}")
    for variable, url in targets.items():
        assert url.hostname in services, f"{variable}: host {url.hostname!r} is not a compose service"
        assert url.port == ports.get(url.hostname, url.port), (
            f"{variable}: port {url.port}, but {url.hostname} listens on {ports[url.hostname]}"
        )


def test_staging_area_is_one_volume_shared_by_every_worker(services):
    env = services[_by_command(services, "scheduler")[0]]["environment"]
    staging = urlsplit(PLACEHOLDER.fullmatch(env["STAGING_URL"]).group(3))
    assert staging.scheme == "file", "local compose stages on a shared volume (file://)"
    for name in _by_command(services, "celery worker"):
        mounts = [v.split(":") for v in services[name].get("volumes", [])]
        assert [src for src, dst in mounts if dst == staging.path], (
            f"worker {name}: {staging.path} (STAGING_URL) is not a mounted volume"
        )
    init = next(s for s in _airflow(services).values() if "airflow db migrate" in _str(s.get("command")))
    assert f"chown -R 50000:0 {staging.path}" in _str(init["command"]), (
        f"a fresh named volume at {staging.path} is root-owned: init must hand it to the airflow user"
    )


def test_every_required_compose_variable_is_in_env_example():
    required = {m.group(1) for m in PLACEHOLDER.finditer(_text("docker-compose.yaml")) if m.group(2) == "?"}
    example = set(re.findall(r"^(\w+)=", _text(".env.example"), re.M))
    assert required and required <= example, f".env.example lacks {sorted(required - example)}"


# --- The Dockerfile ---------------------------------------------------------------------------


def dockerfile_install() -> tuple[str, str]:
    """(the RUN line that installs the requirements, the folder they are copied to)."""
    dockerfile = _text("Dockerfile")
    copied = re.search(r"^COPY \S* ?requirements\.txt constraints\.txt (\S+)$", dockerfile, re.M)
    assert copied, "Dockerfile: requirements.txt and constraints.txt are not copied together"
    runs = [r for r in re.findall(r"^RUN (.*(?:\\\n.*)*)", dockerfile, re.M) if "pip install" in r]
    assert len(runs) == 1, f"Dockerfile: want one RUN with pip install, found {len(runs)}"
    return " ".join(runs[0].replace("\\\n", " ").split()), copied.group(1).rstrip("/")


def test_dockerfile_builds_on_the_pinned_airflow_with_our_pins():
    dockerfile = _text("Dockerfile")
    pinned = re.search(r"^apache-airflow(?:\[[^\]]*\])?==(\S+)", _text("requirements.txt"), re.M).group(1)
    constrained = re.search(r"^apache-airflow==(\S+)", _text("constraints.txt"), re.M).group(1)
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\S+)", dockerfile, re.M)
    assert base, "Dockerfile: FROM apache/airflow:<version>-python<x.y> not found"
    assert base.group(1) == pinned == constrained, (base.group(1), pinned, constrained)
    assert base.group(2) == f"{sys.version_info.major}.{sys.version_info.minor}", (
        f"image Python {base.group(2)} differs from the tested Python {sys.version_info[:2]}"
    )
    install, where = dockerfile_install()
    # Airflow's documented extension ("Adding packages from requirements.txt"): Airflow pinned to
    # the image's own version (its AIRFLOW_VERSION), so pip fails rather than move it.
    expected = (
        f'pip install --no-cache-dir "apache-airflow==${{AIRFLOW_VERSION}}" '
        f"-r {where}/requirements.txt -c {where}/constraints.txt"
    )
    assert install.startswith(expected), f"Dockerfile installs with:\n  {install}\nwant:\n  {expected}"
    before = dockerfile[: dockerfile.index("pip install")]
    assert re.findall(r"^USER (\S+)", before, re.M)[-1] == "airflow", "pip must run as the airflow user"
    env = _dockerfile_env()
    for package in ("dags", "include", "t2a_standin", "plugins", "airflow.cfg"):
        assert re.search(rf"^COPY \S* ?{package} {env['PYTHONPATH']}/{package}$", dockerfile, re.M), (
            f"Dockerfile: {package} is not copied under PYTHONPATH {env['PYTHONPATH']}"
        )
    assert env["AIRFLOW_CONFIG"] == f"{env['PYTHONPATH']}/airflow.cfg"


def test_dockerignore_keeps_local_state_and_secrets_out_but_not_the_sources():
    patterns = [
        line.strip() for line in _text(".dockerignore").splitlines() if line.strip() and not line.startswith("#")
    ]
    for must in (".venv", ".airflow", "artifacts", ".git", "**/__pycache__", "logs", ".env"):
        assert must in patterns, f".dockerignore lacks {must}"
    copied = [
        src for line in re.findall(r"^COPY (?:--\S+ )*(.+)$", _text("Dockerfile"), re.M) for src in line.split()[:-1]
    ]
    assert copied
    for src in copied:
        ignored = [p for p in patterns if fnmatch.fnmatch(src, p) or src.startswith(p.rstrip("/") + "/")]
        assert not ignored, f"{src} is copied by the Dockerfile but ignored by .dockerignore ({ignored})"
