"""The run-scoped staging area: one folder per plan attempt, pruned after the retention time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from include import staging


def test_attempts_are_separate_and_old_ones_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("STAGING_URL", tmp_path.as_uri())
    run_id = "scheduled__2026-11-26T10:00:00+00:00"
    first, second = staging.open_area(run_id, "planA"), staging.open_area(run_id, "planB")
    assert first != second and first.parent == second.parent
    assert ":" not in first.parent.name and "+" not in first.parent.name
    old = staging.open_area("manual__old", "planC")
    stamp = old / staging.OPENED_FILE
    stamp.write_text(json.dumps({"opened_at": (datetime.now(UTC) - timedelta(days=3)).isoformat()}))
    (staging.last_good("5503") / "meta.json").parent.mkdir(parents=True)
    (staging.last_good("5503") / "meta.json").write_text("{}")

    assert staging.prune(timedelta(hours=48)) == 1
    assert not old.exists() and first.exists() and second.exists()
    assert (staging.last_good("5503") / "meta.json").exists()
