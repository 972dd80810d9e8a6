"""The layout is the flow (README "Layout"): imports point one way, the pipeline never reaches
into operator tooling, the stand-in, the bench or the tests, and nothing imports in a cycle.

Read from the source with ``ast``, so a violation is named by module before anything runs."""

from __future__ import annotations

import ast

from tests.support import ROOT

PACKAGES = ("include", "dags", "plugins", "bench", "t2a_standin")
# The pipeline in the order data flows through it; a module may import only modules before it
# (and the leaves config / connections_env). include.pipeline orchestrates them all.
FLOW = (
    "include.t2a_client",
    "include.staging",
    "include.merge",
    "include.subscribers",
    "include.scenarios",
    "include.cards",
    "include.card_store",
    "include.change_events",
    "include.card_actions",
)
LEAVES = ("include.config", "include.connections_env")


def _module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def _area(module: str) -> str | None:
    """The flow step (or leaf) a module belongs to: its longest matching prefix."""
    for step in (*FLOW, *LEAVES):
        if module == step or module.startswith(step + "."):
            return step
    return None


def test_no_import_cycles():
    graph = _graph()
    # A package's own __init__ imported by its submodules is how Python packages work, not a cycle.
    edges = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for dep in sorted(edges[module]):
            if seen.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in seen:
                visit(dep, [*path, dep])
        seen[module] = 2

    for module in sorted(edges):
        if module not in seen:
            visit(module, [module])
    assert cycles == []


def test_pipeline_modules_import_only_upstream_steps():
    wrong = []
    for module, deps in _graph().items():
        area = _area(module)
        if area not in FLOW:
            continue
        for dep in deps:
            dep_area = _area(dep)
            if dep_area == area or dep_area in LEAVES:
                continue
            if dep_area not in FLOW or FLOW.index(dep_area) > FLOW.index(area):
                wrong.append(f"{module} imports {dep}")
    assert wrong == []


def test_the_product_never_imports_tooling_stand_in_bench_or_tests():
    product = ("include", "dags", "plugins")
    outside = ("include.ops", "t2a_standin", "bench", "tests")
    wrong = [
        f"{module} imports {dep}"
        for module, deps in _graph().items()
        if module.startswith(product) and not module.startswith("include.ops") and module != "plugins.card_preview"
        for dep in deps
        if dep.startswith(outside)
    ]
    assert wrong == []
    # The card preview (a UI for people) may use the read models; nothing else of the product.
    assert {d for d in _graph()["plugins.card_preview"] if d.startswith(outside)} <= {
        "include.ops",
        "include.ops.card_reads",
    }
    assert not any(
        d.startswith(("t2a_standin", "bench", "tests"))
        for m, deps in _graph().items()
        if m.startswith("include")
        for d in deps
    )
