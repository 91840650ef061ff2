"""Retries, outages, a killed worker and replay: at least once, and nothing written twice."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from sandbox.ghl.seed import seed_location
from tests.functional.harness import ROOT, System, worker_environment

DEMO = seed_location("loc_demo")


def test_ghl_429_is_retried_after_the_delay_it_asked_for(bridge: System) -> None:
    connection = bridge.new_connection()
    bridge.ghl_fault(path_contains="/tags", status=429, times=1, retry_after=1)

    answer = bridge.send(connection, "post.published", {"post_id": "p429"})
    event = bridge.wait_for(answer.json()["event_id"])

    assert event.status == "done", event.last_error
    assert event.attempts == 2
    statuses = [r["response_status"] for r in bridge.ghl_journal() if "/tags" in r["path"]]
    assert statuses[0] == 429
    assert statuses[1:] == [200, 200, 200]
    assert "(HTTP 429)" in (event.last_error or "")


def test_ghl_500_is_retried_until_it_succeeds(bridge: System) -> None:
    connection = bridge.new_connection()
    bridge.ghl_fault(path_contains="/accounts", status=500, times=2)

    answer = bridge.send(connection, "statistics.requested", {})
    event = bridge.wait_for(answer.json()["event_id"])

    assert event.status == "done", event.last_error
    assert event.attempts == 3


@pytest.mark.slow
def test_ghl_500_past_the_attempt_limit_leaves_the_event_dead(bridge: System) -> None:
    connection = bridge.new_connection()
    bridge.ghl_fault(path_contains="/accounts", status=500, times=10)

    answer = bridge.send(connection, "statistics.requested", {})
    event = bridge.wait_for(answer.json()["event_id"], timeout=60)

    assert event.status == "dead"
    assert event.attempts == bridge.settings.max_attempts
    assert event.last_error is not None
    assert event.last_error.startswith("gave up after 4 attempts: ghl:")


def test_the_crm_down_then_back_gets_the_write_once(bridge: System) -> None:
    connection = bridge.new_connection()
    bridge.crm_fault(status=503, times=2)

    answer = bridge.send(connection, "post.published", {"post_id": "p-crm"})
    event = bridge.wait_for(answer.json()["event_id"])

    assert event.status == "done", event.last_error
    deliveries = bridge.crm_deliveries(connection)
    assert [d["status"] for d in deliveries] == [503, 503, 200]
    assert len({d["webhook_id"] for d in deliveries}) == 1  # one stable webhook-id
    assert [d["outcome"] for d in deliveries].count("stored") == 1


@pytest.mark.slow
def test_a_worker_killed_mid_task_runs_it_again_and_the_crm_sees_one_write(
    bridge: System,
) -> None:
    connection = bridge.new_connection()
    # The CRM stores the write, then takes 3 s to answer: the worker dies in between.
    bridge.crm_fault(delay_ms=3000, times=1, after_store=True)

    answer = bridge.send(connection, "post.published", {"post_id": "p-kill"})
    event_id = answer.json()["event_id"]
    deadline = time.monotonic() + 30
    while not any(d.get("outcome") == "stored" for d in bridge.crm_deliveries(connection)):
        assert time.monotonic() < deadline, bridge.worker.log_tail()
        time.sleep(0.05)
    bridge.worker.kill_child()
    event = bridge.wait_for(event_id)

    assert event.status == "done", event.last_error
    assert event.attempts == 2
    outcomes = [d["outcome"] for d in bridge.crm_deliveries(connection)]
    assert outcomes == ["stored", "duplicate"]
    record = bridge.crm_get(connection, "posts/p-kill")
    assert len(record["webhook_ids"]) == 1
    assert "exited with 'signal 9 (SIGKILL)'" in bridge.worker.log_tail(200)


def test_events_replay_brings_a_dead_event_back(bridge: System) -> None:
    connection = bridge.new_connection()
    bridge.ghl_fault(path_contains="/tags/details", status=422, times=1)

    answer = bridge.send(
        connection, "tag.details_requested", {"post_id": "p-dead", "tag_ids": [DEMO.tags[0].id]}
    )
    event = bridge.wait_for(answer.json()["event_id"])
    assert event.status == "dead"
    assert event.attempts == 1  # a 422 is permanent: no retry
    assert event.last_error is not None
    assert "(HTTP 422)" in event.last_error

    replay = subprocess.run(
        [sys.executable, "-m", "socialbridge", "events", "replay", event.id],
        cwd=ROOT,
        env={**worker_environment(bridge.settings), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.startswith(f"{event.id}: queued again as task {event.id}-")
    assert replay.stdout.endswith(" (tag.details_requested, was dead)\n")
    again = bridge.wait_for(event.id)
    assert again.status == "done", again.last_error
    assert again.attempts == 1
    assert [d["outcome"] for d in bridge.crm_deliveries(connection)] == ["stored"]


def test_replaying_a_done_event_writes_again_under_a_new_webhook_id(bridge: System) -> None:
    connection = bridge.new_connection()
    answer = bridge.send(connection, "post.published", {"post_id": "p-again"})
    first = bridge.wait_for(answer.json()["event_id"])
    assert first.status == "done"

    replay = subprocess.run(
        [sys.executable, "-m", "socialbridge", "events", "replay", first.id, "--json"],
        cwd=ROOT, env=worker_environment(bridge.settings),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    again = bridge.wait_for(first.id, lambda e: e.status == "done" and e.replays == 1)

    assert again.attempts == 1
    deliveries = bridge.crm_deliveries(connection)
    assert [d["outcome"] for d in deliveries] == ["stored", "stored"]
    assert [d["webhook_id"] for d in deliveries] == [
        f"{first.id}.post.tags_synced",
        f"{first.id}.r1.post.tags_synced",
    ]
