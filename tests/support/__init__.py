"""What several test modules share: the project's paths, running the DAG, the fault table and
the independent daily_brief reference."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
