"""Declarative scenarios: YAML files of steps over registered actions, shaped into pages.

    scn = load_scenario("daily_brief")          # parsed + validated once, then cached
    available_scenarios()                        # ids of the *.yaml files here, daily_brief first
    run_batch(scn, subscribers, data, org_context) -> list[AudienceResult]

A new scenario is a new YAML file in this package; a new action is a new class in actions.py.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from include.scenarios.engine import AudienceResult, run_batch
from include.scenarios.model import Scenario, ScenarioError
from include.scenarios.preprocessor import preprocess

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
    return preprocess(SCENARIO_DIR / f"{scenario_id}.yaml")
