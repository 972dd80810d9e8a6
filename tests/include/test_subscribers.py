"""Subscriber loading, validation and batch planning against a real card_subscriber table."""

from __future__ import annotations

from include import subscribers
from include.subscribers import Subscriber


def sub(user_id, org="5503", accounts=("A1",), groups=None, locale="en-US", scenarios=None):
    return Subscriber(
        user_id,
        f"name {user_id}",
        locale,
        org,
        list(accounts),
        None if groups is None else list(groups),
        None if scenarios is None else list(scenarios),
    )


def test_load_active_narrows_by_params(pg):
    pg.run(
        "INSERT INTO card_subscriber (user_id, display_name, sales_org_cd, accounts, active) VALUES"
        " ('a', 'A', '5503', '{X}', true), ('b', 'B', '5504', '{Y}', true),"
        " ('c', 'C', '5503', '{Z}', false)"
    )
    assert [s.user_id for s in subscribers.load_active(pg)] == ["a", "b"]
    assert [s.user_id for s in subscribers.load_active(pg, sales_orgs=["5503"])] == ["a"]
    assert [s.user_id for s in subscribers.load_active(pg, user_ids=["b", "c"])] == ["b"]
    loaded = subscribers.load_active(pg, user_ids=["a"])[0]
    assert loaded.accounts == ["X"] and loaded.locale == "en-US" and loaded.scenarios is None


def test_validate_names_user_and_problem():
    subs = [
        sub("ok"),
        sub("org", org="9999"),
        sub("noacct", accounts=()),
        sub("loc", locale="fr-FR"),
        sub("grp", groups=()),
        sub("scn", scenarios=["daily_brief", "weekly"]),
        sub("onlybad", scenarios=["weekly"]),
    ]
    valid, rejected = subscribers.validate(subs, known_orgs={"5503"}, known_scenarios=["daily_brief"])
    assert [s.user_id for s in valid] == ["ok", "grp", "scn"]
    assert valid[1].product_groups == []  # '{}' is no product group, not a bad row (NULL is all)
    assert valid[2].scenarios == ["daily_brief"]
    problems = {(r.user_id, r.scenario_id): r.problem for r in rejected}
    assert problems[("org", None)] == "user org: sales_org_cd '9999' is not in T2A's SALES_ORG_LIST"
    assert "accounts is empty" in problems[("noacct", None)]
    assert "locale 'fr-FR'" in problems[("loc", None)]
    assert ("grp", None) not in problems
    assert "scenario 'weekly' is not defined" in problems[("scn", "weekly")]
    assert ("onlybad", "weekly") in problems


def test_plan_batches_groups_by_org_and_respects_map_limit():
    subs = [sub(f"u{i:03d}", org="5504" if i % 2 else "5503") for i in range(25)]
    batches = subscribers.make_batches(subs, batch_size=10, max_batches=1024)
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [s.sales_org_cd for s in batches[0]] == ["5503"] * 10
    assert sorted(s.user_id for b in batches for s in b) == sorted(s.user_id for s in subs)
    capped = subscribers.make_batches(subs, batch_size=1, max_batches=4)
    assert len(capped) == 4 and sum(map(len, capped)) == 25
    assert subscribers.make_batches([], 10, 10) == []
