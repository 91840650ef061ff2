"""The chaos plan: the same seed, the same faults and events, each kill followed by its start."""

from __future__ import annotations

import itertools

import pytest

from sandbox.ghl.seed import seed_location
from tests.faults import plan as plans


def kinds_at(actions: list[plans.Action], kind: str) -> list[float]:
    return [action.at for action in actions if action.kind == kind]


def test_the_same_seed_gives_the_same_plan() -> None:
    assert plans.fault_plan(60, seed=3) == plans.fault_plan(60, seed=3)
    assert plans.fault_plan(60, seed=3) != plans.fault_plan(60, seed=4)


def test_every_kill_is_followed_by_its_start_and_the_faults_end_last() -> None:
    actions = plans.fault_plan(60, seed=1)

    assert actions == sorted(actions)
    for kill, start, down in [
        (plans.KILL_WORKER, plans.START_WORKER, plans.WORKER_DOWN_SECONDS),
        (plans.KILL_CRM, plans.START_CRM, plans.CRM_DOWN_SECONDS),
        (plans.KILL_REDIS, plans.START_REDIS, plans.REDIS_DOWN_SECONDS),
    ]:
        [killed] = kinds_at(actions, kill)
        [started] = kinds_at(actions, start)
        assert started - killed == pytest.approx(down)
    assert actions[-1].kind == plans.END_FAULTS
    assert len(kinds_at(actions, plans.GHL_429_BURST)) == 1
    assert 185 <= len(kinds_at(actions, plans.GHL_500)) <= 195  # four a second for 48 s


def test_pool_processes_are_killed_every_few_seconds_but_not_while_the_worker_is_down() -> None:
    actions = plans.fault_plan(60, seed=1)
    kills = kinds_at(actions, plans.KILL_POOL_PROCESS)
    [worker_killed] = kinds_at(actions, plans.KILL_WORKER)

    assert 7 <= len(kills) <= 11
    every = plans.POOL_KILL_EVERY_SECONDS
    assert all(abs(at - every * round(at / every)) <= 1.0 for at in kills)  # ~every 5 s
    assert all(b > a for a, b in itertools.pairwise(kills))
    assert not [
        at
        for at in kills
        if worker_killed - 1
        <= at
        <= worker_killed + plans.WORKER_DOWN_SECONDS + plans.WORKER_START_SECONDS
    ]


def test_a_run_too_short_for_its_faults_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 20 s"):
        plans.fault_plan(10, seed=1)


def test_events_are_spread_over_the_run_the_types_in_turn() -> None:
    events = plans.event_plan(30, 60, connections=4, seed=1)

    assert events == plans.event_plan(30, 60, connections=4, seed=1)
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert events[0].at == 0
    assert events[-1].at < 60
    assert [e.type for e in events[:3]] == list(plans.EVENT_TYPES)
    assert {e.connection for e in events} == {0, 1, 2, 3}
    post_ids = [e.data["post_id"] for e in events if "post_id" in e.data]
    assert len(post_ids) == len(set(post_ids)) == 20


def test_requested_tags_belong_to_the_connections_location() -> None:
    for event in plans.event_plan(12, 60, connections=2, seed=5):
        if event.type != "tag.details_requested":
            continue
        location = seed_location(plans.location_id(event.connection))
        tag_ids = event.data["tag_ids"]
        assert isinstance(tag_ids, list)
        assert all(location.tag(tag_id) is not None for tag_id in tag_ids)
