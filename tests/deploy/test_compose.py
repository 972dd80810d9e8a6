"""docker-compose.yaml and the Dockerfile, checked without Docker against the code they deploy.

Docker is not available where the tests run, so these tests read the files and hold them to
what the code needs: every component and one worker per queue the DAG uses, every setting the
code and the local scripts read, hosts that are real services, and an image built from the
pinned Airflow version with the project's own requirements and constraints. The compose file is
validated against the Compose Specification's JSON schema (vendored: compose-spec.NOTICE), holds
the health checks, depends_on conditions, PostgreSQL version and dumb-init of Airflow 3's
official docker-compose.yaml, and every Airflow command it runs is parsed by the installed
Airflow CLI. (tests/deploy/test_image_install.py runs the Dockerfile's install line for real.)
"""

from __future__ import annotations

import ast
import concurrent.futures
import fnmatch
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from include.connections_env import connections_from_env
from tests.deploy import dockerfile
from tests.support import ROOT

PLACEHOLDER = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")
# What compose substitutes: $$ is an escaped $, anything else like ${VAR...} a variable.
SUBSTITUTION = re.compile(r"\$\$|" + PLACEHOLDER.pattern)
HERE = ROOT / "tests" / "deploy"
# The apache/airflow image's own ENTRYPOINT (its Dockerfile, and docs "Signal propagation"):
# dumb-init runs /entrypoint, which execs `airflow <command>` or a command starting with
# `bash` / `python` as given.
IMAGE_ENTRYPOINT = ["/usr/bin/dumb-init", "--", "/entrypoint"]
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"


def _text(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def _str(value) -> str:
    return " ".join(value) if isinstance(value, list) else str(value or "")


def _fill(value: str) -> str:
    """A compose string with each ${VAR...} replaced by a token that is valid inside JSON."""
    return PLACEHOLDER.sub("x", value)


def _variables(text: str) -> list[re.Match]:
    return [m for m in SUBSTITUTION.finditer(text) if m.group(0) != "$$"]


def _interpolate(value: str) -> str:
    """What compose makes of a string with no variables set: defaults, else 'x'; $$ is a $."""

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return (m.group(3) or "x") if m.group(2) == "-" else "x"

    return SUBSTITUTION.sub(one, value)


@pytest.fixture(scope="module")
def compose() -> dict:
    compose = yaml.safe_load(_text("docker-compose.yaml"))
    assert isinstance(compose, dict) and isinstance(compose.get("services"), dict), (
        "docker-compose.yaml: no top-level 'services' mapping"
    )
    return compose


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


def _airflow(services: dict) -> dict[str, dict]:
    """Services running the project image (build: . / the image tag built from it)."""
    return {name: svc for name, svc in services.items() if svc.get("build") == "."}


def _argv(command) -> list[str]:
    return list(command) if isinstance(command, list) else shlex.split(str(command or ""))


def _script(svc: dict) -> str | None:
    """The script of a `bash -c` service (through the entrypoint, or as the entrypoint)."""
    argv = [*_argv(svc.get("entrypoint")), *_argv(svc.get("command"))]
    if argv[:1] in (["bash"], ["/bin/bash"]) and "-c" in argv:
        return argv[argv.index("-c") + 1]
    return None


def airflow_invocations(svc: dict) -> list[list[str]]:
    """The `airflow ...` command lines (without `airflow`) a service of the image runs."""
    script = _script(svc)
    if script is not None:
        found = []
        for line in script.splitlines():
            match = re.match(r"^\s*(?:exec\s+)?airflow\s+(.*?)\s*\\?$", line)
            if match:
                found.append(shlex.split(match.group(1)))
        return found
    argv = _argv(svc.get("command"))
    if not argv or svc.get("entrypoint") or argv[0] == "python":
        return []
    return [argv[1:] if argv[0] == "airflow" else argv]


def _by_command(services: dict, words: str) -> list[str]:
    wanted = words.split()
    return [
        name
        for name, svc in _airflow(services).items()
        if any(argv[: len(wanted)] == wanted for argv in airflow_invocations(svc))
    ]


def _standin(services: dict) -> str:
    (name,) = [n for n, s in _airflow(services).items() if "t2a_standin" in _str(s.get("command"))]
    return name


def _one_shots(services: dict) -> set[str]:
    """Services others wait for to complete (airflow-init): not long-running."""
    return {
        target
        for svc in services.values()
        for target, cond in (svc.get("depends_on") or {}).items()
        if isinstance(cond, dict) and cond.get("condition") == "service_completed_successfully"
    }


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
            found[node.args[0].value] = _constant(node.args[1])
    return found


def _constant(node: ast.expr) -> object:
    """The value of a literal or of arithmetic on literals (`64 * 1024 * 1024`)."""
    allowed = (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop)
    assert all(isinstance(n, allowed) for n in ast.walk(node)), f"not a constant: {ast.unparse(node)}"
    return eval(compile(ast.Expression(node), "<config default>", "eval"), {"__builtins__": {}})


def test_every_component_has_a_service(services):
    images = {name: svc.get("image", "") for name, svc in services.items()}
    assert [n for n, i in images.items() if i.startswith("postgres:")], "no postgres service"
    assert [n for n, i in images.items() if i.startswith("redis:")], "no redis service"
    for command in ("api-server", "scheduler", "dag-processor", "triggerer", "celery flower"):
        assert len(_by_command(services, command)) == 1, f"want exactly one service running `{command}`"
    init = [n for n, s in _airflow(services).items() if "airflow db migrate" in _str(s.get("command"))]
    assert len(init) == 1, "want one init service running `airflow db migrate`"
    assert "python -m include.card_store migrate" in _str(services[init[0]]["command"])
    assert _standin(services), "want one service running the T2A stand-in"


def test_init_sets_the_t2a_pool_after_migrating(services):
    """fetch_org's pool must exist wherever the metadata database is migrated (a task whose pool
    is missing is never scheduled): the init service sets include/config.py's T2A_POOL to
    MAX_WORKERS_SALES slots (compose's default the DAG's: 3) after `airflow db migrate`."""
    from include.config import T2A_POOL

    init = next(s for s in _airflow(services).values() if "airflow db migrate" in _str(s.get("command")))
    calls = airflow_invocations(init)
    sets = [i for i, argv in enumerate(calls) if argv[:3] == ["pools", "set", T2A_POOL]]
    assert len(sets) == 1 and calls.index(["db", "migrate"]) < sets[0], calls
    assert calls[sets[0]][3] == "${MAX_WORKERS_SALES:-3}" and _interpolate(calls[sets[0]][3]) == "3", calls[sets[0]]


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
    secrets = set(re.findall(r'^\s+"(AIRFLOW__\w+)": lambda', setup_sh, re.M))
    assert secrets, "scripts/setup.sh: found no generated AIRFLOW__* secrets to check"
    # Local-only knobs: ports of parallel stacks on one host (containers each have their own).
    local_only = {
        "AIRFLOW__API__PORT",
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
        "AIRFLOW__CELERY__FLOWER_HOST",
        # Flower's own, set on the flower service only (test_flower_is_optional_and_never_served_...)
        "AIRFLOW__CELERY__FLOWER_BASIC_AUTH",
        "AIRFLOW_HOME",
    }
    return (exported | secrets | set(connections_from_env({})) | set(_config_env_defaults())) - local_only


def _dockerfile_env() -> dict[str, str]:
    return dockerfile.env()


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
    standin = _standin(services)
    standin_port = int(re.search(r"--port (\d+)", _str(services[standin]["command"])).group(1))
    api_port = int(re.search(r"^port = (\d+)$", _text("airflow.cfg"), re.M).group(1))
    ports = {"postgres": 5432, "redis": 6379, standin: standin_port}
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


def test_every_compose_variable_without_a_default_is_in_env_example():
    required = {
        m.group(1) for m in _variables(_text("docker-compose.yaml")) if m.group(2) in (None, "?") or not m.group(3)
    }
    example = set(re.findall(r"^(\w+)=", _text(".env.example"), re.M))
    assert {"POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH"} <= required
    assert required <= example, f".env.example lacks {sorted(required - example)}"


# --- The Compose Specification and Airflow's official compose file ---------------------------


def test_compose_file_follows_the_compose_specification(compose):
    raw = (HERE / "compose-spec.json").read_bytes()
    notice = (HERE / "compose-spec.NOTICE").read_text(encoding="utf-8")
    assert f"SHA-256:  {hashlib.sha256(raw).hexdigest()}" in notice, (
        "tests/deploy/compose-spec.json differs from the vendored file its NOTICE names"
    )
    validator = jsonschema.Draft7Validator(json.loads(raw))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "docker-compose.yaml breaks the Compose Specification:\n" + "\n".join(errors)
    broken = json.loads(json.dumps(compose))
    broken["services"]["redis"]["healthcheck"]["retires"] = 5
    assert not validator.is_valid(broken), "the schema check must catch a misspelt key"


def test_every_long_running_service_runs_under_dumb_init(services):
    assert not re.search(r"^ENTRYPOINT\b", dockerfile.text(), re.M), (
        f"the Dockerfile must keep the base image's ENTRYPOINT {IMAGE_ENTRYPOINT}"
    )
    one_shots = _one_shots(services)
    assert one_shots == {"airflow-init"}, one_shots
    for name, svc in _airflow(services).items():
        if name in one_shots:
            assert "restart" not in svc, f"{name} runs once: no restart policy"
            continue
        entrypoint = _argv(svc.get("entrypoint"))
        assert not entrypoint or entrypoint[:2] == IMAGE_ENTRYPOINT[:2], (
            f"service {name}: entrypoint {entrypoint} replaces {IMAGE_ENTRYPOINT}; run it as the command instead"
        )
        script = _script(svc)
        if script is not None:  # bash must hand over to the long-running process, not sit above it
            last = [line.strip() for line in script.splitlines() if line.strip()][-1]
            assert last.startswith("exec "), f"service {name}: its bash script must end with `exec ...`"


def test_health_checks_as_in_the_official_file(services):
    def check(name: str) -> str:
        test = (services[name].get("healthcheck") or {}).get("test")
        assert test, f"service {name}: no healthcheck"
        return _str(test)

    (api,) = _by_command(services, "api-server")
    assert check(api) == "CMD curl --fail http://localhost:8080/api/v2/version"
    (scheduler,) = _by_command(services, "scheduler")
    assert check(scheduler) == "CMD curl --fail http://localhost:8974/health"
    assert services[scheduler]["environment"].get("AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK") == "true", (
        "the scheduler's /health on port 8974 needs AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=true"
    )
    for command, job in (("dag-processor", "DagProcessorJob"), ("triggerer", "TriggererJob")):
        (name,) = _by_command(services, command)
        assert check(name) == f'CMD-SHELL airflow jobs check --job-type {job} --hostname "$${{HOSTNAME}}"'
    for name in _by_command(services, "celery worker"):
        celery_name = re.search(r"--celery-hostname[ =](\w+)@%h\b", _str(services[name]["command"]))
        assert celery_name, f"worker {name}: --celery-hostname <name>@%h, so its health check can ping it"
        assert check(name) == (
            f'CMD-SHELL celery --app {CELERY_APP} inspect ping -d "{celery_name.group(1)}@$${{HOSTNAME}}"'
        )
    (flower,) = _by_command(services, "celery flower")
    assert check(flower) == "CMD curl --fail http://localhost:5555/healthcheck"
    for name, svc in services.items():
        if name not in _one_shots(services):
            assert svc.get("healthcheck"), f"long-running service {name} has no healthcheck"


def test_depends_on_as_in_the_official_file(services):
    healthy = {"condition": "service_healthy"}
    base = {"postgres": healthy, "redis": healthy, "airflow-init": {"condition": "service_completed_successfully"}}
    (api,) = _by_command(services, "api-server")
    expected = {
        **{
            name: base
            for command in ("api-server", "scheduler", "dag-processor", "triggerer", "celery flower")
            for name in _by_command(services, command)
        },
        **{name: {**base, api: healthy} for name in _by_command(services, "celery worker")},
    }
    for name, want in expected.items():
        assert services[name].get("depends_on") == want, (
            f"service {name}: depends_on {services[name].get('depends_on')}"
        )
    profiled = {name for name, svc in services.items() if svc.get("profiles")}
    for name, svc in services.items():
        for target, cond in (svc.get("depends_on") or {}).items():
            assert target in services, f"service {name} depends on unknown {target}"
            if cond.get("condition") == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target} to be healthy: no healthcheck"
            assert svc.get("profiles") or target not in profiled, f"{name} (always on) depends on profiled {target}"


def _named_volume_at(compose: dict, svc: dict, path: str) -> str | None:
    for mount in svc.get("volumes") or []:
        source, _, target = str(mount).partition(":")
        if target.split(":")[0] == path and source in (compose.get("volumes") or {}):
            return source
    return None


def test_redis_persists_the_stream_and_the_broker_on_a_volume(compose, services):
    (redis,) = [s for s in services.values() if str(s.get("image", "")).startswith("redis:")]
    command = _str(redis.get("command"))
    assert "--appendonly yes" in command, f"redis: {command!r} keeps nothing across a restart"
    assert '--save ""' not in command and "--save  " not in command
    assert _named_volume_at(compose, redis, "/data"), "redis: /data (its append-only file) is not a named volume"


def test_postgres_is_the_official_files_major_version(services):
    (image,) = [s["image"] for s in services.values() if str(s.get("image", "")).startswith("postgres:")]
    assert image == "postgres:16", f"{image}: Airflow 3's official docker-compose.yaml runs postgres:16"


def test_admin_password_file_lives_on_a_named_volume(compose, services):
    (api,) = _by_command(services, "api-server")
    path = services[api]["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    folder = path.rsplit("/", 1)[0]
    assert _named_volume_at(compose, services[api], folder), f"{folder} (the passwords file) is not a named volume"
    init = next(s for s in _airflow(services).values() if "airflow db migrate" in _str(s.get("command")))
    assert _named_volume_at(compose, init, folder) and re.search(rf"chown -R 50000:0 .*{folder}\b", _script(init))


def test_flower_is_optional_and_never_served_without_basic_auth(services, tmp_path):
    (flower,) = _by_command(services, "celery flower")
    svc = services[flower]
    assert svc.get("profiles") == ["flower"], "Flower starts only with `--profile flower`"
    auth = svc["environment"].get("AIRFLOW__CELERY__FLOWER_BASIC_AUTH", "")
    assert PLACEHOLDER.fullmatch(auth) and PLACEHOLDER.fullmatch(auth).group(1) == "FLOWER_BASIC_AUTH", auth
    # Run its script with a stand-in `airflow` that reports its arguments.
    fake = tmp_path / "airflow"
    fake.write_text('#!/bin/sh\necho "airflow $*"\n')
    fake.chmod(0o755)
    script = _interpolate(_script(svc))
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    refused = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "FLOWER_BASIC_AUTH" in refused.stderr and "airflow" not in refused.stdout
    served = subprocess.run(
        ["bash", "-c", script],
        env={**env, "AIRFLOW__CELERY__FLOWER_BASIC_AUTH": "ops:pw"},
        capture_output=True,
        text=True,
    )
    assert served.returncode == 0 and served.stdout.strip() == "airflow celery flower", served


def _with_env_sh(*argv: str) -> subprocess.CompletedProcess:
    """argv after `. scripts/env.sh`, as an operator would run it."""
    return subprocess.run(
        ["bash", "-c", '. scripts/env.sh && exec "$@"', "bash", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_command_parses_with_the_installed_airflow_cli(services):
    invocations = {}  # airflow argv (variables filled in) -> where it comes from
    for name, svc in _airflow(services).items():
        for argv in airflow_invocations(svc):
            invocations[tuple(_interpolate(a) for a in argv)] = f"{name}: command"
        test = _argv((svc.get("healthcheck") or {}).get("test"))
        if test[:1] == ["CMD-SHELL"] and test[1].startswith("airflow "):
            invocations[tuple(shlex.split(_interpolate(test[1]).replace("${HOSTNAME}", "host"))[1:])] = (
                f"{name}: healthcheck"
            )
    assert {argv[:2] for argv in invocations} >= {
        ("api-server",), ("scheduler",), ("dag-processor",), ("triggerer",), ("celery", "worker"),
        ("celery", "flower"), ("db", "migrate"), ("jobs", "check"),
    }  # fmt: skip
    words = {tuple(a for a in argv if not a.startswith("-"))[: 2 if argv[0] in ("celery", "db", "jobs") else 1]
             for argv in invocations}  # fmt: skip
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        helps = dict(zip(words, pool.map(lambda w: _with_env_sh("airflow", *w, "--help"), words)))
        celery = pool.submit(_with_env_sh, "celery", "--app", CELERY_APP, "inspect", "ping", "--help")
        standin = next(a for s in services.values() if "t2a_standin" in (a := _argv(s.get("command"))))
        standin_help = pool.submit(_with_env_sh, *standin, "--help")
    for word, result in helps.items():
        assert result.returncode == 0, f"`airflow {' '.join(word)} --help` failed:\n{result.stderr[-2000:]}"
    assert celery.result().returncode == 0, celery.result().stderr[-2000:]
    assert standin_help.result().returncode == 0, standin_help.result().stderr[-2000:]
    # The whole command lines, options and values too, through Airflow's own parser.
    check = subprocess.run(
        [sys.executable, "-c", PARSE_ALL, json.dumps([list(a) for a in invocations])],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert check.returncode == 0, f"Airflow's CLI parser refused:\n{check.stdout}{check.stderr[-2000:]}"


PARSE_ALL = """
import contextlib, io, json, sys
from airflow.cli import cli_parser
parser, failed = cli_parser.get_parser(), []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit:
        failed.append(f"airflow {' '.join(argv)}: {err.getvalue().strip()}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_cli_parse_check_refuses_a_bad_option():
    check = subprocess.run(
        [sys.executable, "-c", PARSE_ALL, json.dumps([["celery", "worker", "--queue-typo", "x"]])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 1 and "--queue-typo" in check.stdout


# --- The Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_builds_on_the_pinned_airflow_with_our_pins():
    text = dockerfile.text()
    pinned = re.search(r"^apache-airflow(?:\[[^\]]*\])?==(\S+)", _text("requirements.txt"), re.M).group(1)
    constrained = re.search(r"^apache-airflow==(\S+)", _text("constraints.txt"), re.M).group(1)
    airflow_version, python_version = dockerfile.base_image()
    assert airflow_version == pinned == constrained, (airflow_version, pinned, constrained)
    assert python_version == f"{sys.version_info.major}.{sys.version_info.minor}", (
        f"image Python {python_version} differs from the tested Python {sys.version_info[:2]}"
    )
    install, where = dockerfile.install_run()
    # Airflow's documented extension ("Adding packages from requirements.txt"): Airflow pinned to
    # the image's own version (its AIRFLOW_VERSION), so pip fails rather than move it.
    expected = (
        f'pip install --no-cache-dir "apache-airflow==${{AIRFLOW_VERSION}}" '
        f"-r {where}/requirements.txt -c {where}/constraints.txt"
    )
    assert install.startswith(expected), f"Dockerfile installs with:\n  {install}\nwant:\n  {expected}"
    assert install.endswith("&& pip check"), "the build must fail if our pins break a package of the image"
    before = text[: text.index("pip install")]
    assert re.findall(r"^USER (\S+)", before, re.M)[-1] == "airflow", "pip must run as the airflow user"
    env = _dockerfile_env()
    for package in ("dags", "include", "t2a_standin", "plugins", "airflow.cfg"):
        assert re.search(rf"^COPY \S* ?{package} {env['PYTHONPATH']}/{package}$", text, re.M), (
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
