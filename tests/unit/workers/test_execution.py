"""execute_event: one attempt of a recorded event, and what becomes of the event."""

from __future__ import annotations

import datetime as dt
import random
import time

import pytest

from store import SnapshotRecord, StoreUnavailable
from tests.unit.workers.conftest import NOW, Bridge, crm_secret
from workers.execution import DEAD, DONE, RETRY, SKIPPED, execute_event
from workers.services import Services


class Interrupted(Exception):
    """Stands for the task layer's SoftTimeLimitExceeded."""


def test_a_successful_attempt_is_done(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-1"})
    assert event.status == "queued"

    outcome = execute_event(bridge.services, event.id, task_id="task-1", now=NOW)

    assert outcome.status == DONE
    assert outcome.error is None
    assert outcome.retry_in is None
    assert outcome.event is not None
    assert outcome.event.status == "done"
    assert outcome.event.attempts == 1
    assert outcome.event.task_id == "task-1"
    assert outcome.event.last_error is None
    assert outcome.event.started_at is not None
    assert outcome.event.finished_at is not None
    assert outcome.event.next_attempt_at is None
    assert bridge.store.get_event(event.id) == outcome.event
    assert outcome.result == bridge.store.get_post(connection.id, "crm-1")


def test_the_stored_payload_is_used_unless_one_is_given(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "from-the-log"})
    delivered = {**event.payload, "data": {"post_id": "from-the-broker"}}

    outcome = execute_event(bridge.services, event.id, payload=delivered)

    assert outcome.status == DONE
    assert bridge.store.get_post(connection.id, "from-the-broker") is not None
    assert bridge.store.get_post(connection.id, "from-the-log") is None


def test_every_event_type_runs_its_flow(bridge: Bridge) -> None:
    connection = bridge.connection()
    stats = bridge.record(connection, "statistics.requested", {})
    details = bridge.record(
        connection, "tag.details_requested", {"post_id": "crm-2", "tag_ids": ["x"]}
    )

    stats_outcome = execute_event(bridge.services, stats.id, now=NOW)
    details_outcome = execute_event(bridge.services, details.id, now=NOW)

    assert stats_outcome.status == DONE
    assert isinstance(stats_outcome.result, SnapshotRecord)
    assert details_outcome.status == DONE
    assert [d["type"] for d in bridge.deliveries(connection)] == [
        "location.statistics_synced",
        "post.tag_details_attached",
    ]


def test_progress_lines_reach_the_caller(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-3"})
    lines: list[str] = []

    execute_event(bridge.services, event.id, progress=lines.append)

    assert lines == [
        "fetched 250 tags of location loc_demo",
        "wrote post.tags_synced for CRM post crm-3",
    ]


# --- retry ----------------------------------------------------------------------------------


def test_a_rate_limited_attempt_retries_no_sooner_than_ghl_asked(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-4"})
    bridge.ghl_fault(path_contains="/tags", status=429, retry_after=30)

    outcome = execute_event(bridge.services, event.id, now=NOW, rng=random.Random(7))

    assert outcome.status == RETRY
    # Backoff of a first attempt is at most RETRY_BACKOFF_BASE (2 s): GHL's 30 s wins.
    assert outcome.retry_in == 30
    assert outcome.error is not None
    assert outcome.error.startswith("ghl: ")
    assert "(HTTP 429)" in outcome.error
    assert outcome.event is not None
    assert outcome.event.status == "retrying"
    assert outcome.event.attempts == 1
    assert outcome.event.last_error == outcome.error
    assert outcome.event.next_attempt_at == NOW + dt.timedelta(seconds=30)
    assert outcome.event.finished_at is None
    assert bridge.deliveries(connection) == []


def test_a_server_error_retries_with_jittered_backoff(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-5"})
    bridge.ghl_fault(path_contains="/tags", status=503, times=2)

    first = execute_event(bridge.services, event.id, now=NOW, rng=random.Random(1))
    second = execute_event(bridge.services, event.id, now=NOW, rng=random.Random(1))

    assert first.status == second.status == RETRY
    assert first.retry_in is not None
    assert second.retry_in is not None
    # Full jitter below base * 2**(attempt-1): 2 s, then 4 s.
    assert 0 <= first.retry_in <= 2.0
    assert 0 <= second.retry_in <= 4.0
    assert second.event is not None
    assert second.event.attempts == 2


def test_a_retry_succeeds_with_the_same_write_back_id(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-6"})
    # The CRM stores the write-back but answers 503: the retry must be recognised there.
    bridge.crm_fault(status=503, after_store=True)

    first = execute_event(bridge.services, event.id, now=NOW)
    second = execute_event(bridge.services, event.id, now=NOW)

    assert first.status == RETRY
    assert first.error is not None
    assert first.error.startswith("crm: ")
    assert second.status == DONE
    assert second.event is not None
    assert second.event.attempts == 2
    # The error met on the way stays visible on the finished event.
    assert second.event.last_error == first.error
    deliveries = bridge.deliveries(connection)
    assert [d["webhook_id"] for d in deliveries] == [f"{event.id}.post.tags_synced"] * 2
    assert [d["outcome"] for d in deliveries] == ["stored", "duplicate"]
    assert len(bridge.crm_posts(connection)) == 1


def test_an_event_is_dead_after_max_attempts(bridge: Bridge) -> None:
    assert bridge.settings.max_attempts == 3
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-7"})
    bridge.ghl_fault(path_contains="/tags", status=500, times=3)

    outcomes = [execute_event(bridge.services, event.id, now=NOW) for _ in range(3)]

    assert [o.status for o in outcomes] == [RETRY, RETRY, DEAD]
    last = outcomes[-1]
    assert last.error is not None
    assert last.error.startswith("gave up after 3 attempts: ghl: ")
    assert last.retry_in is None
    assert last.event is not None
    assert last.event.status == "dead"
    assert last.event.attempts == 3
    assert last.event.last_error == last.error
    assert last.event.finished_at is not None
    assert last.event.next_attempt_at is None
    assert last.event.error_kind == "retryable_exhausted"


def test_an_unexpected_exception_is_retried(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-8"})

    def explode(_: str) -> None:
        raise KeyError("surprise")

    outcome = execute_event(bridge.services, event.id, progress=explode, now=NOW)

    assert outcome.status == RETRY
    assert outcome.error == "unexpected error: KeyError('surprise')"


def test_the_callers_retryable_exceptions_retry_as_timeouts(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-9"})

    def interrupt(_: str) -> None:
        raise Interrupted("soft time limit")

    outcome = execute_event(
        bridge.services, event.id, progress=interrupt, retryable=(Interrupted,), now=NOW
    )

    assert outcome.status == RETRY
    assert outcome.error == "timed out: Interrupted('soft time limit')"


def test_a_store_outage_inside_the_flow_propagates(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-10"})

    def store_down(_: str) -> None:
        raise StoreUnavailable("the database is unavailable: gone")

    with pytest.raises(StoreUnavailable):
        execute_event(bridge.services, event.id, progress=store_down)

    # Nothing was recorded about the attempt's end: the task layer retries the message.
    stored = bridge.store.get_event(event.id)
    assert stored is not None
    assert stored.status == "processing"


# --- dead at once ---------------------------------------------------------------------------


def test_a_permanent_error_is_dead_at_once(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(
        connection, "post.published", {"post_id": "crm-11", "ghl_post_id": "post_demo_99"}
    )

    outcome = execute_event(bridge.services, event.id, now=NOW)

    assert outcome.status == DEAD
    assert outcome.error is not None
    assert outcome.error.startswith("ghl: Post with id post_demo_99 not found (HTTP 400)")
    assert outcome.event is not None
    assert outcome.event.attempts == 1
    assert outcome.event.last_error == outcome.error
    assert outcome.event.error_kind == "permanent"
    refreshed = bridge.store.get_connection(connection.id)
    assert refreshed is not None
    assert refreshed.status == "active"


def test_a_crm_refusing_the_write_back_is_dead_at_once(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-12"})
    bridge.crm_fault(status=400)

    outcome = execute_event(bridge.services, event.id, now=NOW)

    assert outcome.status == DEAD
    assert outcome.error is not None
    assert outcome.error.startswith("crm: ")


def test_an_invalid_payload_is_dead(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-13"})
    broken = {**event.payload, "data": {"post_id": ""}}

    outcome = execute_event(bridge.services, event.id, payload=broken)

    assert outcome.status == DEAD
    assert outcome.error == (
        "invalid payload: {'data.post_id': ['Length must be between 1 and 200.']}"
    )
    assert outcome.event is not None
    assert outcome.event.error_kind == "invalid"
    assert bridge.journal() == []


def test_another_location_in_the_payload_is_dead_without_calling_ghl(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(
        connection, "post.published", {"post_id": "crm-14", "location_id": "loc_other"}
    )

    outcome = execute_event(bridge.services, event.id)

    assert outcome.status == DEAD
    assert outcome.error == (
        "socialbridge: data.location_id 'loc_other' is not this connection's location 'loc_demo'"
    )
    assert bridge.journal() == []


def test_refused_ghl_credentials_kill_the_event_and_park_the_connection(bridge: Bridge) -> None:
    connection = bridge.connection(ghl_token="pit-revoked")
    event = bridge.record(connection, "post.published", {"post_id": "crm-15"})

    outcome = execute_event(bridge.services, event.id, now=NOW)

    assert outcome.status == DEAD
    assert outcome.error is not None
    assert outcome.error.startswith("ghl: Invalid JWT (HTTP 401)")
    parked = bridge.store.get_connection(connection.id)
    assert parked is not None
    assert parked.status == "parked"
    assert parked.status_reason == f"credentials refused: {outcome.error}"
    assert outcome.event is not None
    assert outcome.event.error_kind == "auth"


def test_a_crm_refusing_our_signature_parks_the_connection(bridge: Bridge) -> None:
    connection = bridge.connection()
    # The CRM was re-keyed without telling us.
    account = connection.crm_url.rsplit("/", 1)[-1]
    rekeyed = bridge.crm_admin.post(
        "/_sandbox/accounts", json={"account": account, "secret": crm_secret("rekeyed")}
    )
    assert rekeyed.status_code == 200
    event = bridge.record(connection, "post.published", {"post_id": "crm-16"})

    outcome = execute_event(bridge.services, event.id, now=NOW)

    assert outcome.status == DEAD
    assert outcome.error is not None
    assert outcome.error.startswith("crm: the CRM refused our signature")
    parked = bridge.store.get_connection(connection.id)
    assert parked is not None
    assert parked.status == "parked"


def test_a_parked_connection_kills_its_events_without_calling_ghl(bridge: Bridge) -> None:
    connection = bridge.connection()
    bridge.store.park_connection(connection.id, "token revoked by the agency")
    event = bridge.record(connection, "post.published", {"post_id": "crm-17"})

    outcome = execute_event(bridge.services, event.id, now=NOW)

    assert outcome.status == DEAD
    assert outcome.error == "connection is parked: token revoked by the agency"
    assert outcome.event is not None
    assert outcome.event.status == "dead"
    assert outcome.event.attempts == 0
    assert outcome.event.error_kind == "auth"
    assert bridge.journal() == []
    assert bridge.deliveries() == []


# --- skipped --------------------------------------------------------------------------------


def test_a_done_event_is_not_run_again(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-18"})
    done = execute_event(bridge.services, event.id, now=NOW)
    calls = len(bridge.journal())

    again = execute_event(bridge.services, event.id, now=NOW)

    assert again.status == SKIPPED
    assert again.event == done.event
    assert again.error is None
    assert len(bridge.journal()) == calls
    assert len(bridge.deliveries(connection)) == 1


def test_an_unknown_event_is_skipped(bridge: Bridge) -> None:
    outcome = execute_event(bridge.services, "evt_does_not_exist")

    assert outcome.status == SKIPPED
    assert outcome.event is None
    assert outcome.error == "event not found"
    assert bridge.journal() == []


def test_a_connection_whose_crm_cannot_be_reached_by_url_kills_the_event(bridge: Bridge) -> None:
    # The connector refuses the URL when it is built: the event dies and, since every event of
    # the connection would fail the same way, the connection is parked.
    connection = bridge.store.create_connection(
        name="hostless",
        location_id="loc_demo",
        ghl_token="pit-sandbox-demo",
        crm_url="http://:80/hooks/hostless",
    )
    event = bridge.record(connection, "post.published", {"post_id": "crm-19"})

    outcome = execute_event(bridge.services, event.id, now=NOW)

    assert outcome.status == DEAD
    assert outcome.error is not None
    assert "CRM URL" in outcome.error
    stored = bridge.store.get_event(event.id)
    assert stored is not None
    assert stored.status == "dead"
    assert stored.error_kind == "permanent"
    parked = bridge.store.get_connection(connection.id)
    assert parked is not None
    assert parked.status == "parked"
    assert parked.status_reason == outcome.error


def test_an_attempt_that_never_finished_counts_towards_the_limit(bridge: Bridge) -> None:
    # An attempt killed by the hard time limit leaves the event `processing`; the recovery
    # sweep queues it again, and the limit must still end it.
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-20"})
    for number in range(bridge.settings.max_attempts):
        # Each attempt died with its worker: its lease lapsed at once.
        bridge.store.start_attempt(event.id, f"killed-{number}", lease_seconds=-1)

    outcome = execute_event(bridge.services, event.id, now=NOW)

    assert outcome.status == DEAD
    assert outcome.error == (
        f"gave up after {bridge.settings.max_attempts} attempts: the last one never finished"
    )
    assert outcome.event is not None
    assert outcome.event.error_kind == "retryable_exhausted"
    assert bridge.journal() == []


def with_settings(bridge: Bridge, **changes: object) -> Services:
    """The bridge's services under other settings (same store and sandboxes)."""
    return Services(
        bridge.settings.replace(**changes),
        store=bridge.store,
        ghl_transport=bridge.services.ghl_transport,
        crm_transport=bridge.services.crm_transport,
    )


def test_unexpected_errors_have_a_small_budget_of_their_own(bridge: Bridge) -> None:
    services = with_settings(bridge, max_attempts=12, unexpected_max_attempts=2)
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-21"})

    def explode(_: str) -> None:
        raise KeyError("surprise")

    first = execute_event(services, event.id, progress=explode, now=NOW)
    second = execute_event(services, event.id, progress=explode, now=NOW)

    assert [first.status, second.status] == [RETRY, DEAD]
    assert (
        second.error == "gave up after 2 unexpected errors: unexpected error: KeyError('surprise')"
    )
    assert second.event is not None
    assert second.event.error_kind == "retryable_exhausted"
    assert second.event.attempts == 2


def test_text_that_cannot_be_encoded_is_dead_at_once(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-22"})

    def encode(_: str) -> None:
        "\ud800".encode()

    outcome = execute_event(bridge.services, event.id, progress=encode, now=NOW)

    assert outcome.status == DEAD
    assert outcome.error is not None
    assert outcome.error.startswith("cannot encode the event's text: ")
    assert outcome.event is not None
    assert outcome.event.error_kind == "invalid"
    assert outcome.event.attempts == 1


def test_a_retry_not_yet_due_is_left_for_the_sweep(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-23"})
    bridge.store.start_attempt(event.id, "task-1", lease_seconds=20)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    bridge.store.mark_retrying(event.id, "ghl: unavailable (HTTP 503)", later)

    outcome = execute_event(bridge.services, event.id)

    assert outcome.status == SKIPPED
    assert outcome.event is not None
    assert (outcome.event.status, outcome.event.attempts) == ("retrying", 1)
    assert bridge.journal() == []


def test_a_redelivery_while_the_attempt_runs_does_nothing(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-24"})
    bridge.store.start_attempt(event.id, "task-running", lease_seconds=60)

    outcome = execute_event(bridge.services, event.id, task_id="task-redelivered")

    assert outcome.status == SKIPPED
    stored = bridge.store.get_event(event.id)
    assert stored is not None
    assert (stored.status, stored.task_id, stored.attempts) == ("processing", "task-running", 1)
    assert bridge.journal() == []


def test_the_lease_is_renewed_while_the_flow_runs(bridge: Bridge) -> None:
    services = with_settings(bridge, lease_seconds=3)
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-25"})
    leases: list[dt.datetime | None] = []

    def slow_step(_: str) -> None:
        if leases:
            return
        # Long enough for the keeper (every second) to renew at least once.
        for _ in range(2):
            current = bridge.store.get_event(event.id)
            assert current is not None
            leases.append(current.lease_expires_at)
            time.sleep(1.6)

    outcome = execute_event(services, event.id, task_id="task-slow", progress=slow_step)

    assert outcome.status == DONE
    first, second = leases[0], leases[1]
    assert first is not None
    assert second is not None
    assert second > first
    assert outcome.event is not None
    assert outcome.event.lease_expires_at is None


def test_a_run_outside_celery_owns_its_lease_under_an_id_of_its_own(bridge: Bridge) -> None:
    services = with_settings(bridge, lease_seconds=3)
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-26"})
    renewed: list[bool] = []

    def slow_step(_: str) -> None:
        if renewed:
            return
        time.sleep(1.6)  # past the first renewal (every second)
        current = bridge.store.get_event(event.id)
        assert current is not None
        renewed.append(bridge.store.renew_lease(event.id, current.task_id, lease_seconds=3))

    outcome = execute_event(services, event.id, progress=slow_step)

    assert outcome.status == DONE
    assert outcome.event is not None
    assert outcome.event.task_id is not None
    assert outcome.event.task_id.startswith("inline-")
    assert renewed == [True]
