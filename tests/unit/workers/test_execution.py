"""execute_event: one attempt of a recorded event, and what becomes of the event."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from sandbox.ghl import DEFAULT_LOCATION, DEFAULT_TOKEN
from sandbox.ghl.oauth import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SCOPE_POSTS,
    SCOPE_TAGS,
    SOCIAL_PLANNER_SCOPES,
)
from socialbridge.config import Settings
from socialbridge.errors import ScopeError
from store import ConnectionRecord, EventRecord, SnapshotRecord, Store, StoreUnavailable
from tests.dbutil import Database
from tests.unit.workers.conftest import (
    CRM_BASE_URL,
    NOW,
    SECRET_KEY,
    Bridge,
    account_of,
    crm_secret,
)
from workers.execution import DEAD, DONE, RETRY, SKIPPED, WAITING, _auth_hold, execute_event
from workers.services import Services

REDIRECT_URI = "https://bridge.example/oauth/ghl/callback"


class CuttingInStore(Store):
    """The real store, where what another process does happens just before one of its methods
    runs (``before[name]``, once): a race made to happen at its worst moment."""

    def __init__(self, database: Database) -> None:
        url, engine_options = database
        super().__init__(url, SECRET_KEY, engine_options=engine_options)
        self.before: dict[str, Callable[[], object]] = {}

    def _cut_in(self, name: str) -> None:
        hook = self.before.pop(name, None)
        if hook is not None:
            hook()

    def mark_waiting(
        self, event_id: str, reason: str, *, attempt: str | None = None
    ) -> EventRecord | None:
        self._cut_in("mark_waiting")
        return super().mark_waiting(event_id, reason, attempt=attempt)

    def mark_needs_reauth(
        self, connection_id: str, reason: str, *, generation: int | None = None
    ) -> bool:
        self._cut_in("mark_needs_reauth")
        return super().mark_needs_reauth(connection_id, reason, generation=generation)


@pytest.fixture
def cutting_in(bridge: Bridge, migrated_database: Database) -> Iterator[CuttingInStore]:
    store = CuttingInStore(migrated_database)
    yield store
    store.dispose()


def services_on(bridge: Bridge, store: Store, settings: Settings | None = None) -> Services:
    """The bridge's sandboxes, through another store on the same database."""
    return Services(
        settings or bridge.settings,
        store=store,
        ghl_transport=bridge.services.ghl_transport,
        crm_transport=bridge.services.crm_transport,
    )


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


@pytest.fixture
def other_process(migrated_database: Database) -> Iterator[Store]:
    """A second Store on the same database: what `socialbridge connections` is to a worker."""
    url, engine_options = migrated_database
    opened = Store(url, SECRET_KEY, engine_options=engine_options)
    yield opened
    opened.dispose()


def test_a_connection_changed_by_another_process_is_used_from_the_next_event(
    bridge: Bridge, other_process: Store
) -> None:
    connection = bridge.connection(account="acct_before")
    moved = bridge.crm_admin.post(
        "/_sandbox/accounts", json={"account": "acct_after", "secret": connection.crm_secret}
    )
    assert moved.status_code == 201, moved.get_json()
    first = bridge.record(connection, "post.published", {"post_id": "crm-1"})
    second = bridge.record(connection, "post.published", {"post_id": "crm-2"})
    third = bridge.record(connection, "post.published", {"post_id": "crm-3"})

    ran = [execute_event(bridge.services, first.id, now=NOW).status]
    # `connections update` in another process, well within the connection cache's TTL.
    other_process.update_connection(connection.id, crm_url=f"{CRM_BASE_URL}/hooks/acct_after")
    ran.append(execute_event(bridge.services, second.id, now=NOW).status)
    other_process.park_connection(connection.id, "held by hand")
    ran.append(execute_event(bridge.services, third.id, now=NOW).status)

    assert ran == [DONE, DONE, WAITING]
    assert [
        d["webhook_id"]
        for d in bridge.crm_admin.get(
            "/_sandbox/deliveries", query_string={"account": "acct_before"}
        ).get_json()
    ] == [f"{first.id}.post.tags_synced"]
    assert [
        d["webhook_id"]
        for d in bridge.crm_admin.get(
            "/_sandbox/deliveries", query_string={"account": "acct_after"}
        ).get_json()
    ] == [f"{second.id}.post.tags_synced"]


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


# --- waiting: a connection that cannot be used holds its events, never kills them -------------


def test_refused_ghl_credentials_park_the_connection_and_the_event_waits(bridge: Bridge) -> None:
    connection = bridge.connection(ghl_token="pit-revoked")
    event = bridge.record(connection, "post.published", {"post_id": "crm-15"})

    outcome = execute_event(bridge.services, event.id, now=NOW)

    assert outcome.status == WAITING
    parked = bridge.store.get_connection(connection.id)
    assert parked is not None
    assert parked.status == "parked"
    assert parked.status_reason is not None
    assert parked.status_reason.startswith("credentials refused: ghl: Invalid JWT (HTTP 401)")
    assert outcome.error == f"connection is parked: {parked.status_reason}"
    waiting = outcome.event
    assert waiting is not None
    assert waiting == bridge.store.get_event(event.id)
    assert waiting.status == "waiting"
    assert waiting.last_error == outcome.error
    # The attempt that found the refusal is given back: re-authorizing never uses up attempts.
    assert waiting.attempts == 0
    assert (waiting.error_kind, waiting.finished_at, waiting.lease_expires_at) == (None, None, None)
    assert waiting.next_attempt_at is None
    assert bridge.deliveries() == []


REASONS = {
    "parked": "token revoked by the agency",
    "needs_reauth": "refresh refused: invalid_grant",
    "disconnected": "GHL sent UNINSTALL",
}


def hold(store: Store, connection_id: str, status: str) -> None:
    """Put the connection in ``status`` the way the system does, with its reason."""
    if status == "parked":
        store.park_connection(connection_id, REASONS[status])
    elif status == "needs_reauth":
        assert store.mark_needs_reauth(connection_id, REASONS[status])
    else:
        store.disconnect_connection(connection_id, REASONS[status])


@pytest.mark.parametrize("status", sorted(REASONS))
def test_the_events_of_a_connection_not_active_wait_without_calling_anyone(
    bridge: Bridge, status: str
) -> None:
    connection = bridge.connection()
    hold(bridge.store, connection.id, status)
    events = [
        bridge.record(connection, "post.published", {"post_id": "crm-17"}),
        bridge.record(connection, "statistics.requested", {}),
    ]

    outcomes = [execute_event(bridge.services, event.id, now=NOW) for event in events]

    reason = f"connection is {status}: {REASONS[status]}"
    assert [o.status for o in outcomes] == [WAITING, WAITING]
    assert [o.error for o in outcomes] == [reason, reason]
    for outcome in outcomes:
        assert outcome.event is not None
        assert (outcome.event.status, outcome.event.attempts) == ("waiting", 0)
        assert outcome.event.last_error == reason
        assert outcome.event.error_kind is None
    assert bridge.journal() == []
    assert bridge.deliveries() == []


def test_a_due_retry_of_a_parked_connection_waits_with_its_attempts_as_they_were(
    bridge: Bridge,
) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-27"})
    bridge.store.start_attempt(event.id, "task-1", lease_seconds=20)
    bridge.store.mark_retrying(event.id, "ghl: unavailable (HTTP 503)", NOW)
    bridge.store.park_connection(connection.id, "token revoked by the agency")

    outcome = execute_event(bridge.services, event.id, now=NOW)

    assert outcome.status == WAITING
    assert outcome.event is not None
    # No attempt ran here, so none is given back: the one that failed with a 503 still counts.
    assert (outcome.event.status, outcome.event.attempts) == ("waiting", 1)
    assert bridge.journal() == []


def test_a_waiting_event_runs_once_its_connection_is_active_again(bridge: Bridge) -> None:
    connection = bridge.connection(ghl_token="pit-revoked")
    first = bridge.record(connection, "post.published", {"post_id": "crm-28"})
    second = bridge.record(connection, "statistics.requested", {})
    assert execute_event(bridge.services, first.id, now=NOW).status == WAITING
    assert execute_event(bridge.services, second.id, now=NOW).status == WAITING

    bridge.store.update_connection(connection.id, ghl_token=DEFAULT_TOKEN)
    released = bridge.store.activate_connection(connection.id)
    outcomes = [execute_event(bridge.services, event.id, now=NOW) for event in released]

    assert [event.id for event in released] == [first.id, second.id]
    assert [o.status for o in outcomes] == [DONE, DONE]
    for outcome in outcomes:
        assert outcome.event is not None
        assert outcome.event.attempts == 1
        # What it waited for stays readable on the finished event.
        assert outcome.event.last_error is not None
        assert outcome.event.last_error.startswith("connection is parked: credentials refused: ")
    assert [d["type"] for d in bridge.deliveries(connection)] == [
        "post.tags_synced",
        "location.statistics_synced",
    ]


def test_waiting_never_uses_up_the_attempts_however_often_credentials_are_refused(
    bridge: Bridge,
) -> None:
    services = with_settings(bridge, max_attempts=3)
    connection = bridge.connection(ghl_token="pit-revoked")
    event = bridge.record(connection, "post.published", {"post_id": "crm-29"})
    # One ordinary failure first: it counts, as any failed attempt does.
    bridge.ghl_fault(path_contains="/tags", status=503, times=1)
    assert execute_event(services, event.id, now=NOW).status == RETRY

    # Five times someone activates the connection without fixing its token.
    for _ in range(5):
        outcome = execute_event(services, event.id, now=NOW)
        assert outcome.status == WAITING
        assert outcome.event is not None
        assert outcome.event.attempts == 1
        released = bridge.store.activate_connection(connection.id)
        assert [(e.id, e.status, e.attempts) for e in released] == [(event.id, "queued", 1)]

    bridge.store.update_connection(connection.id, ghl_token=DEFAULT_TOKEN)
    outcome = execute_event(services, event.id, now=NOW)

    assert outcome.status == DONE
    assert outcome.event is not None
    assert outcome.event.attempts == 2


def test_a_crm_refusing_our_signature_parks_the_connection_and_the_event_waits(
    bridge: Bridge,
) -> None:
    connection = bridge.connection()
    # The CRM was re-keyed without telling us.
    rekeyed = bridge.crm_admin.post(
        "/_sandbox/accounts", json={"account": account_of(connection), "secret": crm_secret("new")}
    )
    assert rekeyed.status_code == 200
    event = bridge.record(connection, "post.published", {"post_id": "crm-16"})

    outcome = execute_event(bridge.services, event.id, now=NOW)

    assert outcome.status == WAITING
    parked = bridge.store.get_connection(connection.id)
    assert parked is not None
    assert parked.status == "parked"
    assert parked.status_reason is not None
    assert parked.status_reason.startswith(
        "credentials refused: crm: the CRM refused our signature"
    )
    assert outcome.event is not None
    assert outcome.event.last_error == f"connection is parked: {parked.status_reason}"
    assert outcome.event.attempts == 0

    # Fixed in place and activated, the event runs again and is written once.
    bridge.store.update_connection(connection.id, crm_secret=crm_secret("new"))
    bridge.store.activate_connection(connection.id)
    again = execute_event(bridge.services, event.id, now=NOW)
    assert again.status == DONE
    assert [d["outcome"] for d in bridge.deliveries(connection)] == ["rejected", "stored"]


def test_a_connection_whose_crm_cannot_be_reached_by_url_is_parked_and_the_event_waits(
    bridge: Bridge,
) -> None:
    # The connector refuses the URL when it is built: every event of the connection would
    # fail the same way, so the connection is parked and the event waits for the fix.
    connection = bridge.store.create_connection(
        name="hostless",
        location_id="loc_demo",
        ghl_token="pit-sandbox-demo",
        crm_url="http://:80/hooks/hostless",
    )
    event = bridge.record(connection, "post.published", {"post_id": "crm-19"})

    outcome = execute_event(bridge.services, event.id, now=NOW)

    assert outcome.status == WAITING
    parked = bridge.store.get_connection(connection.id)
    assert parked is not None
    assert parked.status == "parked"
    assert parked.status_reason is not None
    assert parked.status_reason.startswith("connection cannot be used: ")
    assert "CRM URL" in parked.status_reason
    stored = bridge.store.get_event(event.id)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.error_kind) == ("waiting", 0, None)
    assert stored.last_error == f"connection is parked: {parked.status_reason}"
    assert bridge.journal() == []


def test_credentials_fixed_while_the_attempt_ran_retry_the_event_instead_of_parking(
    bridge: Bridge,
) -> None:
    connection = bridge.connection()
    account = account_of(connection)
    bridge.crm_admin.post(
        "/_sandbox/accounts", json={"account": account, "secret": crm_secret("b")}
    )
    event = bridge.record(connection, "post.published", {"post_id": "crm-30"})

    def operator_fixes_the_secret(line: str) -> None:
        # After GHL answered and before the write-back (signed with the old secret) is sent.
        if line.startswith("fetched "):
            bridge.store.update_connection(connection.id, crm_secret=crm_secret("b"))

    outcome = execute_event(bridge.services, event.id, progress=operator_fixes_the_secret, now=NOW)

    assert outcome.status == RETRY
    assert outcome.error is not None
    assert outcome.error.startswith("crm: the CRM refused our signature")
    stored = bridge.store.get_connection(connection.id)
    assert stored is not None
    assert stored.status == "active"
    again = execute_event(bridge.services, event.id, now=NOW)
    assert again.status == DONE


def test_an_activation_just_before_the_event_would_wait_runs_it(
    bridge: Bridge, cutting_in: CuttingInStore
) -> None:
    connection = bridge.connection()
    bridge.store.park_connection(connection.id, "token revoked by the agency")
    event = bridge.record(connection, "post.published", {"post_id": "crm-31"})
    cutting_in.before["mark_waiting"] = lambda: cutting_in.activate_connection(connection.id)

    outcome = execute_event(services_on(bridge, cutting_in), event.id, now=NOW)

    assert outcome.status == DONE
    assert outcome.event is not None
    assert outcome.event.attempts == 1
    assert outcome.event.last_error is None  # it never waited


def test_an_activation_between_parking_and_waiting_retries_the_event(
    bridge: Bridge, cutting_in: CuttingInStore
) -> None:
    connection = bridge.connection(ghl_token="pit-revoked")
    event = bridge.record(connection, "post.published", {"post_id": "crm-32"})

    def fix_and_activate() -> None:
        cutting_in.update_connection(connection.id, ghl_token=DEFAULT_TOKEN)
        cutting_in.activate_connection(connection.id)

    cutting_in.before["mark_waiting"] = fix_and_activate
    services = services_on(bridge, cutting_in)

    outcome = execute_event(services, event.id, now=NOW)

    assert outcome.status == RETRY
    assert outcome.event is not None
    assert outcome.event.status == "retrying"
    active = bridge.store.get_connection(connection.id)
    assert active is not None
    assert active.status == "active"
    assert execute_event(services, event.id, now=NOW).status == DONE


# --- waiting: OAuth connections -------------------------------------------------------------


def install(bridge: Bridge, scopes: Sequence[str] = SOCIAL_PLANNER_SCOPES) -> dict[str, Any]:
    """A whole install at the sandbox GHL: the chooselocation redirect, then the code for a pair."""
    query = {
        "response_type": "code",
        "client_id": SANDBOX_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": " ".join(scopes),
        "state": "unit-test",
        "location_id": DEFAULT_LOCATION,
        "approve": "1",
    }
    chosen = bridge.ghl_admin.get(f"/oauth/chooselocation?{urlencode(query)}")
    assert chosen.status_code == 302, chosen.get_data(as_text=True)
    code = parse_qs(urlsplit(chosen.headers["Location"]).query)["code"][0]
    answer = bridge.ghl_admin.post(
        "/oauth/token",
        data={
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": code,
            "user_type": "Location",
            "redirect_uri": REDIRECT_URI,
        },
    )
    assert answer.status_code == 200, answer.get_json()
    pair: dict[str, Any] = answer.get_json()
    return pair


def authorize(
    bridge: Bridge,
    connection: ConnectionRecord,
    scopes: Sequence[str] = SOCIAL_PLANNER_SCOPES,
    *,
    store: Store | None = None,
) -> list[EventRecord]:
    """Install at the sandbox and save the pair as the OAuth callback does; the released events."""
    pair = install(bridge, scopes)
    _, released = (store or bridge.store).save_oauth_tokens(
        connection.id,
        access_token=pair["access_token"],
        refresh_token=pair["refresh_token"],
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=pair["expires_in"]),
        scopes=pair["scope"].split(),
        location_id=pair["locationId"],
        company_id=pair.get("companyId"),
        authorized=True,
    )
    return released


def oauth_connection(
    bridge: Bridge, scopes: Sequence[str] = SOCIAL_PLANNER_SCOPES
) -> ConnectionRecord:
    connection = bridge.connection(ghl_auth="oauth", ghl_token="")
    authorize(bridge, connection, scopes)
    found = bridge.store.get_connection(connection.id)
    assert found is not None
    assert found.status == "active"
    return found


@pytest.fixture
def oauth_services(bridge: Bridge, redis_url: str) -> Services:
    """The bridge's services as an OAuth deployment has them: the app's client and a Redis
    for the single-flight refresh lock."""
    return with_settings(
        bridge,
        redis_url=redis_url,
        ghl_client_id=SANDBOX_CLIENT_ID,
        ghl_client_secret=SANDBOX_CLIENT_SECRET,
    )


def test_a_revoked_oauth_grant_needs_reauth_and_the_event_waits_until_it_is_given(
    bridge: Bridge, oauth_services: Services
) -> None:
    connection = oauth_connection(bridge)
    event = bridge.record(connection, "post.published", {"post_id": "crm-33"})
    revoked = bridge.ghl_admin.post(
        "/_sandbox/oauth/revoke", json={"location_id": DEFAULT_LOCATION}
    )
    assert revoked.status_code == 200

    outcome = execute_event(oauth_services, event.id, now=NOW)

    assert outcome.status == WAITING
    held = bridge.store.get_connection(connection.id)
    assert held is not None
    assert held.status == "needs_reauth"
    assert held.status_reason
    assert outcome.event is not None
    assert outcome.event.last_error == f"connection is needs_reauth: {held.status_reason}"
    assert (outcome.event.status, outcome.event.attempts) == ("waiting", 0)

    released = authorize(bridge, connection)
    assert [e.id for e in released] == [event.id]
    again = execute_event(oauth_services, event.id, now=NOW)
    assert again.status == DONE


def test_a_missing_scope_is_named_on_the_connection_and_on_the_event(
    bridge: Bridge, oauth_services: Services
) -> None:
    without_tags = [scope for scope in SOCIAL_PLANNER_SCOPES if scope != SCOPE_TAGS]
    connection = oauth_connection(bridge, without_tags)
    event = bridge.record(connection, "post.published", {"post_id": "crm-34"})

    outcome = execute_event(oauth_services, event.id, now=NOW)

    assert outcome.status == WAITING
    held = bridge.store.get_connection(connection.id)
    assert held is not None
    assert held.status == "needs_reauth"
    assert held.status_reason is not None
    assert held.status_reason.startswith(
        f"the token lacks scope {SCOPE_TAGS}; install the app again to grant it (ghl: "
    )
    assert outcome.event is not None
    assert outcome.event.last_error == f"connection is needs_reauth: {held.status_reason}"
    assert outcome.event.attempts == 0

    released = authorize(bridge, connection)  # installed again, with every scope
    assert [e.id for e in released] == [event.id]
    assert execute_event(oauth_services, event.id, now=NOW).status == DONE


def test_a_crm_refusal_parks_an_oauth_connection_since_no_install_can_fix_it(
    bridge: Bridge, oauth_services: Services
) -> None:
    connection = oauth_connection(bridge)
    bridge.crm_admin.post(
        "/_sandbox/accounts", json={"account": account_of(connection), "secret": crm_secret("c")}
    )
    event = bridge.record(connection, "post.published", {"post_id": "crm-35"})

    outcome = execute_event(oauth_services, event.id, now=NOW)

    assert outcome.status == WAITING
    held = bridge.store.get_connection(connection.id)
    assert held is not None
    assert held.status == "parked"
    assert held.status_reason is not None
    assert held.status_reason.startswith("credentials refused: crm: ")


def test_a_grant_saved_while_the_attempt_ran_retries_the_event_instead_of_reauth(
    bridge: Bridge, cutting_in: CuttingInStore, oauth_services: Services
) -> None:
    without_tags = [scope for scope in SOCIAL_PLANNER_SCOPES if scope != SCOPE_TAGS]
    connection = oauth_connection(bridge, without_tags)
    event = bridge.record(connection, "post.published", {"post_id": "crm-36"})
    # Someone completes a new install (every scope) just as the attempt decides.
    cutting_in.before["mark_needs_reauth"] = lambda: authorize(bridge, connection, store=cutting_in)
    services = services_on(bridge, cutting_in, oauth_services.settings)

    outcome = execute_event(services, event.id, now=NOW)

    assert outcome.status == RETRY
    active = bridge.store.get_connection(connection.id)
    assert active is not None
    assert active.status == "active"
    assert execute_event(services, event.id, now=NOW).status == DONE


@pytest.mark.parametrize(
    ("auth", "scope", "reason"),
    [
        (
            "pit",
            SCOPE_POSTS,
            f"the token lacks scope {SCOPE_POSTS}; give the Private Integration that scope, "
            "then activate the connection (ghl: lacking (HTTP 401))",
        ),
        (
            "oauth",
            None,
            "the token lacks a scope this call needs; install the app again to grant it "
            "(ghl: lacking (HTTP 401))",
        ),
    ],
)
def test_what_a_missing_scope_does_to_each_kind_of_connection(
    bridge: Bridge, auth: str, scope: str | None, reason: str
) -> None:
    # The sandbox grants a Private Integration token every scope; this reads the decision alone.
    connection = dataclasses.replace(bridge.connection(), ghl_auth=auth)
    refused = ScopeError("lacking", system="ghl", scope=scope, status=401)

    hold = _auth_hold(connection, refused)

    assert hold.status == ("parked" if auth == "pit" else "needs_reauth")
    assert hold.reason == reason


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


# TASK_TIME_LIMIT without a kill (Celery's threads pool): the lease stops at the limit and the
# late attempt is fenced off by its number. A limit of 2 s; the flow's first step outlasts it.
TIME_LIMITS = {"lease_seconds": 3, "task_soft_time_limit": 1, "task_time_limit": 2}


def test_an_attempt_past_its_time_limit_whose_event_was_taken_writes_and_records_nothing(
    bridge: Bridge,
) -> None:
    services = with_settings(bridge, **TIME_LIMITS)
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-27"})
    taken: list[EventRecord] = []

    def overrun(_: str) -> None:
        if taken:
            return
        time.sleep(2.2)  # past the 2 s limit: the keeper renews no more
        # The lease runs out and Redis hands the same message (same task id) to another
        # thread, which starts attempt 2; forced here rather than waited for.
        assert bridge.store.renew_lease(event.id, "task-late", lease_seconds=-1, attempt=1)
        again = bridge.store.start_attempt(event.id, "task-late", lease_seconds=20)
        assert again is not None
        taken.append(again)

    outcome = execute_event(services, event.id, task_id="task-late", progress=overrun)

    assert outcome.status == SKIPPED
    assert bridge.deliveries(connection) == []  # attempt 2 writes back, not this one
    current = bridge.store.get_event(event.id)
    assert current is not None
    assert (current.status, current.attempts, current.task_id) == ("processing", 2, "task-late")


def test_an_attempt_past_its_time_limit_that_kept_its_event_is_retried_without_writing(
    bridge: Bridge,
) -> None:
    services = with_settings(bridge, **TIME_LIMITS)
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-28"})
    slept: list[bool] = []

    def overrun(_: str) -> None:
        if not slept:
            slept.append(True)
            time.sleep(2.2)

    outcome = execute_event(services, event.id, task_id="task-slow", progress=overrun)

    assert outcome.status == RETRY
    assert outcome.error is not None
    assert "ran past TASK_TIME_LIMIT (2 s)" in outcome.error
    assert bridge.deliveries(connection) == []


# --- the attempt history ----------------------------------------------------------------------


def test_each_attempt_is_recorded_with_its_outcome_and_write_back(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-h1"})
    bridge.crm_fault(status=503)

    first = execute_event(bridge.services, event.id, task_id="task-1", now=NOW)
    second = execute_event(bridge.services, event.id, task_id="task-2", now=NOW)

    assert (first.status, second.status) == (RETRY, DONE)
    retried, done = bridge.store.attempts_of(event.id)
    assert (retried.number, retried.task_id, retried.outcome) == (1, "task-1", "retrying")
    assert (retried.error_kind, retried.error) == ("retryable", first.error)
    assert retried.writeback is None  # the CRM did not take it
    assert (done.number, done.task_id, done.outcome, done.error) == (2, "task-2", "done", None)
    assert done.writeback == (
        f"post.tags_synced for CRM post crm-h1, webhook-id {event.id}.post.tags_synced"
    )
    assert second.event is not None
    assert (done.started_at, done.finished_at) == (
        second.event.started_at,
        second.event.finished_at,
    )


def test_the_attempts_of_an_event_that_dies_are_all_kept(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-h2"})
    bridge.ghl_fault(path_contains="/tags", status=500, times=3)

    outcomes = [execute_event(bridge.services, event.id, now=NOW) for _ in range(3)]

    attempts = bridge.store.attempts_of(event.id)
    assert [(a.number, a.outcome, a.error_kind) for a in attempts] == [
        (1, "retrying", "retryable"),
        (2, "retrying", "retryable"),
        (3, "dead", "retryable_exhausted"),
    ]
    assert [a.error for a in attempts] == [o.error for o in outcomes]
    assert all(a.finished_at is not None and a.took is not None for a in attempts)


def test_an_attempt_that_finds_credentials_refused_is_recorded_waiting(bridge: Bridge) -> None:
    connection = bridge.connection(ghl_token="pit-revoked")
    event = bridge.record(connection, "post.published", {"post_id": "crm-h3"})

    outcome = execute_event(bridge.services, event.id, now=NOW)

    assert outcome.status == WAITING
    [attempt] = bridge.store.attempts_of(event.id)
    assert (attempt.number, attempt.outcome, attempt.error) == (1, "waiting", outcome.error)


def test_an_unexpected_error_is_recorded_as_such(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-h4"})

    def explode(_: str) -> None:
        raise KeyError("surprise")

    execute_event(bridge.services, event.id, progress=explode, now=NOW)

    [attempt] = bridge.store.attempts_of(event.id)
    assert (attempt.outcome, attempt.error_kind) == ("retrying", "unexpected")
    assert attempt.error == "unexpected error: KeyError('surprise')"


def test_a_message_that_finds_nothing_due_records_no_attempt(bridge: Bridge) -> None:
    connection = bridge.connection()
    event = bridge.record(connection, "post.published", {"post_id": "crm-h5"})
    assert execute_event(bridge.services, event.id, now=NOW).status == DONE

    assert execute_event(bridge.services, event.id, now=NOW).status == SKIPPED
    assert [a.outcome for a in bridge.store.attempts_of(event.id)] == ["done"]
