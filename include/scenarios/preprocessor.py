"""Validate a scenario file completely before anything runs.

Every problem a file can have — YAML syntax, unknown action, missing/extra/ill-typed
argument, a frame or column no earlier step produced, a duplicate step or page id, a bad
page definition — is found here and raised as one ScenarioError naming the file, the step
(1-based index, id, action) or page, and the problem. The engine can then run without
checking anything about the scenario itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from include.scenarios.actions import REGISTRY
from include.scenarios.model import IDENTIFIER, FrameSchema, Problem, Scenario, ScenarioError, Step
from include.scenarios.pages import PageDef, compile_page
from include.scenarios.sources import SOURCES, sources_needed

_TOP_LEVEL = {"description", "steps", "pages"}
_REQUIRED_TOP_LEVEL = {"steps", "pages"}
_PAGE_SHAPES = ({"id", "fields"}, {"id", "list", "fields"}, {"id", "each", "page_id", "fields"})


def preprocess(path: Path) -> Scenario:
    """Parse and validate the scenario file at `path`; its id is the file name without .yaml."""
    file = path.name
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{file}: not valid YAML: {exc}") from None
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot be read: {exc}") from None
    if not isinstance(document, dict):
        raise ScenarioError(f"{file}: must be a mapping with keys steps and pages")
    problems = []
    if missing := sorted(_REQUIRED_TOP_LEVEL - set(document)):
        problems.append(f"missing key {', '.join(missing)}")
    if extra := sorted(map(str, set(document) - _TOP_LEVEL)):
        problems.append(f"unknown key {', '.join(extra)}; allowed: {', '.join(sorted(_TOP_LEVEL))}")
    if problems:
        raise ScenarioError(f"{file}: {'; '.join(problems)}")
    if not isinstance(document.get("description", ""), str):
        raise ScenarioError(f"{file}: description must be a string")
    if not isinstance(document["steps"], list) or not document["steps"]:
        raise ScenarioError(f"{file}: steps must be a non-empty list")
    if not isinstance(document["pages"], list) or not document["pages"]:
        raise ScenarioError(f"{file}: pages must be a non-empty list")

    steps = _steps(file, document["steps"])
    schemas = {step.id: step.output for step in steps}
    pages = _pages(file, document["pages"], schemas)
    literals = [lit for step in steps for lit in REGISTRY[step.action].literals(step.args)]
    return Scenario(
        id=path.stem,
        file=file,
        steps=tuple(steps),
        pages=tuple(pages),
        literal_places=max([0] + [-lit.as_tuple().exponent for lit in literals]),  # type: ignore[operator]
        sources=sources_needed([s.args["source"] for s in steps if s.action == "scope"]),
        subscriber_keys=tuple(dict.fromkeys(key for page in pages for _, key in page.personal)),
    )


def _steps(file: str, raw_steps: list[Any]) -> list[Step]:
    steps: list[Step] = []
    schemas: dict[str, FrameSchema] = {}
    for index, raw in enumerate(raw_steps, start=1):
        step_id = raw.get("id") if isinstance(raw, dict) else None
        action = raw.get("action") if isinstance(raw, dict) else None
        where = (
            f"{file}, step {index}"
            + (f" {step_id!r}" if isinstance(step_id, str) else "")
            + (f" ({action})" if isinstance(action, str) else "")
        )
        try:
            step = _step(index, raw, schemas)
        except Problem as problem:
            raise ScenarioError(f"{where}: {problem}") from None
        steps.append(step)
        schemas[step.id] = step.output
    return steps


def _step(index: int, raw: Any, schemas: dict[str, FrameSchema]) -> Step:
    if not isinstance(raw, dict):
        raise Problem(f"must be a mapping with id, action and the action's arguments, got {raw!r}")
    step_id, action = raw.get("id"), raw.get("action")
    if not isinstance(step_id, str) or not IDENTIFIER.match(step_id):
        raise Problem(f"id must start with a letter and hold only letters, digits and _, got {step_id!r}")
    if step_id in schemas:
        raise Problem(f"duplicate step id {step_id!r}")
    if step_id in SOURCES:
        raise Problem(f"step id {step_id!r} is a source name; choose another")
    if action not in REGISTRY:
        raise Problem(f"unknown action {action!r}; known: {', '.join(sorted(REGISTRY))}")
    definition = REGISTRY[action]
    args = {k: v for k, v in raw.items() if k not in ("id", "action")}
    missing = [name for name, param in definition.params.items() if param.required and name not in args]
    if missing:
        raise Problem(f"missing argument {', '.join(missing)}")
    extra = [str(name) for name in args if name not in definition.params]
    if extra:
        raise Problem(f"unknown argument {', '.join(extra)}; {action} takes: {', '.join(definition.params)}")
    for name, value in args.items():
        if (trouble := definition.params[name].check(value)) is not None:
            raise Problem(f"argument {name} {trouble}, got {value!r}")
    return Step(index, step_id, action, args, definition.output(args, schemas))


def _pages(file: str, raw_pages: list[Any], schemas: dict[str, FrameSchema]) -> list[PageDef]:
    pages: list[PageDef] = []
    for index, raw in enumerate(raw_pages, start=1):
        page_id = raw.get("id") if isinstance(raw, dict) else None
        where = f"{file}, page {index}" + (f" {page_id!r}" if isinstance(page_id, str) else "")
        try:
            if not isinstance(raw, dict) or set(raw) not in _PAGE_SHAPES:
                raise Problem(f"must be a mapping with id and fields, and either list or each and page_id, got {raw!r}")
            if not isinstance(page_id, str) or not IDENTIFIER.match(page_id):
                raise Problem(f"id must start with a letter and hold only letters, digits and _, got {page_id!r}")
            if any(p.id == page_id for p in pages):
                raise Problem(f"duplicate page id {page_id!r}")
            page = compile_page(page_id, {k: v for k, v in raw.items() if k != "id"}, schemas)
            for other in pages:
                first, second = (other, page) if other.repeated else (page, other)
                if first.repeated and re.fullmatch(re.escape(first.id) + r"_[0-9]+", second.id):
                    raise Problem(f"page id {second.id!r} is also an id of the repeated page {first.id!r}")
            pages.append(page)
        except Problem as problem:
            raise ScenarioError(f"{where}: {problem}") from None
    return pages
