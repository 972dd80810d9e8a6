"""Declarative scenarios: YAML files of steps over registered actions, shaped into pages.

    scn = load_scenario("daily_brief")          # parsed + validated once, then cached
    available_scenarios()                        # ids of the *.yaml files here, daily_brief first
    run_batch(scn, subscribers, data, org_context) -> list[AudienceResult]
    result.pages_for(user_id)                    # one user's pages: shared ones + {subscriber: …} fields filled

A new scenario is a new YAML file in this package; a new action is a new class in actions.py.
The engine (pandas, ~0.4 s to import) loads on first use: most of the DAG's task instances
(org fetches, planning) import this package but never run a scenario.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.scenarios.model import Scenario, ScenarioError

if TYPE_CHECKING:
    from include.scenarios.engine import AudienceResult, run_batch

SCENARIO_DIR = Path(__file__).parent
BUILT_IN = "daily_brief"

__all__ = ["AudienceResult", "Scenario", "ScenarioError", "available_scenarios", "load_scenario", "run_batch"]


def available_scenarios() -> list[str]:
    """Ids of the scenario files in this package: daily_brief first, then alphabetical."""
    ids = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
    return sorted(ids, key=lambda i: (i != BUILT_IN, i))


@cache
def load_scenario(scenario_id: str) -> Scenario:
    """The scenario `<scenario_id>.yaml` of this package, validated (ScenarioError if not)."""
    if scenario_id not in available_scenarios():
        raise ScenarioError(
            f"{scenario_id}.yaml: no such scenario; available: {', '.join(available_scenarios()) or '(none)'}"
        )
    from include.scenarios.preprocessor import preprocess

    return preprocess(SCENARIO_DIR / f"{scenario_id}.yaml")


def __getattr__(name: str) -> Any:
    """`AudienceResult` and `run_batch` import the engine when first asked for."""
    if name in ("AudienceResult", "run_batch"):
        from include.scenarios import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
