"""The staging area: one folder per plan attempt, pruned after the retention time, and the
last good copies swapped atomically under a per-org lock (a real PostgreSQL advisory lock) —
on a local folder and on S3 (moto's server over HTTP, through the Amazon provider and the
aws_default connection, as workers on several hosts use it)."""

from __future__ import annotations

import json
import threading
import time
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

import pytest

from include import card_store, merge, staging
from tests.include.test_merge import sales_total_row, write_all
from tests.support.s3_server import new_bucket


@pytest.fixture(params=["file", "s3"])
def root(request, tmp_path, monkeypatch):
    """STAGING_URL set to a fresh local folder or a fresh S3 bucket; returns staging.root()."""
    if request.param == "file":
        url = tmp_path.as_uri()
    else:
        url = f"s3://{new_bucket(request.getfixturevalue('s3_endpoint'))}/staging"
    monkeypatch.setenv("STAGING_URL", url)
    path = staging.root()
    assert path.protocol == request.param and (path.conn_id == "aws_default") == (request.param == "s3")
    return path


def test_attempts_are_separate_and_old_ones_are_pruned(root):
    run_id = "scheduled__2026-11-26T10:00:00+00:00"
    first, second = staging.open_area(run_id, "planA"), staging.open_area(run_id, "planB")
    assert first != second and first.parent == second.parent
    assert ":" not in first.parent.name and "+" not in first.parent.name
    old = staging.open_area("manual__old", "planC")
    stamp = old / staging.OPENED_FILE
    stamp.write_text(json.dumps({"opened_at": (datetime.now(UTC) - timedelta(days=3)).isoformat()}))
    (staging.last_good("5503") / staging.POINTER).parent.mkdir(parents=True, exist_ok=True)
    (staging.last_good("5503") / staging.POINTER).write_text("{}")

    assert staging.prune(timedelta(hours=48)) == 1
    assert not old.exists() and first.exists() and second.exists()
    assert (staging.last_good("5503") / staging.POINTER).exists()


def _unlocked(org: str):
    return nullcontext()


def test_last_good_extracts_serve_a_young_enough_fallback(root):
    fresh, later, old = root / "runs" / "a", root / "runs" / "b", root / "runs" / "c"

    def keep(area, interval_end):
        return staging.keep_last_good(area, "5503", {"interval_end": interval_end, "period": "2026.11"}, lock=_unlocked)

    def restore(interval_end, max_age_hours=6, org="5503"):
        return staging.restore_last_good(
            later, org, interval_end=interval_end, max_age_hours=max_age_hours, lock=_unlocked
        )

    write_all(fresh, "5503", [sales_total_row("T10")])
    assert keep(fresh, "2026-11-26T10:00:00+00:00")
    write_all(old, "5503", [sales_total_row("T08")])  # a backfill of an older interval
    assert not keep(old, "2026-11-26T08:00:00+00:00")

    assert restore("2026-11-26T14:00:00+00:00")["interval_end"] == "2026-11-26T10:00:00+00:00"
    index = merge.write_merged(later, ["5503"])
    assert list(merge.read_merged(later, index, "SALES_TOTAL", ["5503"])["GSCM Account"]) == ["T10"]

    assert restore("2026-11-26T18:00:00+00:00") is None
    newer = root / "runs" / "d"
    write_all(newer, "5503", [sales_total_row("T12")])
    assert keep(newer, "2026-11-26T12:00:00+00:00")
    assert restore("2026-11-26T18:00:00+00:00")["interval_end"] == "2026-11-26T12:00:00+00:00"
    assert restore("2026-11-26T12:00:00+00:00", max_age_hours=0) is None
    assert restore("2026-11-26T12:00:00+00:00", org="9999") is None
    # only the version in force and the one before it stay on disk
    assert len([p for p in staging.last_good("5503").iterdir() if p.is_dir()]) == 2


def test_concurrent_swaps_and_reads_never_mix_intervals(root, card_store_db):
    """Writers of many intervals and readers at once, under the pipeline's advisory lock:
    every restore holds the three files of exactly one interval, and the newest one wins."""

    def lock(org):
        return card_store.advisory_lock(card_store.hook(), f"last_good:{org}")

    hours = list(range(0, 24, 2))
    for hour in hours:
        area = root / "runs" / f"h{hour}"
        write_all(area, "5503", [sales_total_row(f"T{hour:02d}")])
        # every file of this attempt names its interval
        for query in ("SALES_ORG", "ORDER_STATUS"):
            path = staging.org_extract(area, "5503", query)
            path.write_text(path.read_text() + f"# T{hour:02d}\n")
    problems: list[str] = []

    def reported(work):
        """A thread's exception is a problem of the test, not a warning lost in a thread."""

        def run(arg):
            try:
                work(arg)
            except Exception as exc:
                problems.append(f"{work.__name__}({arg}): {type(exc).__name__}: {exc}")

        return run

    @reported
    def writer(hour):
        meta = {"interval_end": f"2026-11-26T{hour:02d}:00:00+00:00", "period": "2026.11"}
        staging.keep_last_good(root / "runs" / f"h{hour}", "5503", meta, lock=lock)

    @reported
    def reader(n):
        area = root / "readers" / str(n)
        for _ in range(5):
            meta = staging.restore_last_good(
                area, "5503", interval_end="2026-11-26T23:00:00+00:00", max_age_hours=48, lock=lock
            )
            if meta is None:
                continue
            tag = f"T{datetime.fromisoformat(meta['interval_end']).hour:02d}"
            texts = [
                staging.org_extract(area, "5503", q).read_text() for q in ("SALES_TOTAL", "SALES_ORG", "ORDER_STATUS")
            ]
            if not all(tag in text for text in texts):
                problems.append(f"reader {n} saw files of another interval than {tag}")
            time.sleep(0.01)

    threads = [threading.Thread(target=writer, args=(h,)) for h in reversed(hours)]
    threads += [threading.Thread(target=reader, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert problems == []
    current = json.loads((staging.last_good("5503") / staging.POINTER).read_text())
    assert current["interval_end"] == "2026-11-26T22:00:00+00:00"
