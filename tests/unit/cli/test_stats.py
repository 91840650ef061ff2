"""`socialbridge stats sync CONNECTION`: the statistics flow run here, or handed to the workers."""

from __future__ import annotations

import datetime as dt
import json
import re

from socialbridge.embedded_redis import free_port
from tests.brokerutil import queued_tasks
from tests.unit.cli.conftest import PUBLIC_URL, Cli, columns, lines
from workers.flows.statistics import default_range


def test_sync_runs_the_flow_and_prints_the_totals(cli: Cli) -> None:
    connection = cli.connection("acme")
    start, end = default_range(dt.datetime.now(dt.UTC).date())

    result = cli("stats", "sync", "acme")

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert event.source == "cli"
    assert event.status == "done"
    snapshot = cli.store.latest_snapshot(connection.id)
    assert snapshot is not None
    printed = lines(result.output)
    assert printed[:9] == [
        "syncing statistics of acme (location loc_demo) ...",
        "  6 accounts, 5 with a profileId",
        "  statistics batch 1/1: 5 profiles",
        f"  wrote location.statistics_synced for {start}..{end}",
        f"event_id: {event.id}",
        "status:   done",
        "snapshot:",
        f"  id:            {snapshot.id}",
        f"  connection_id: {connection.id}",
    ]
    assert f"  start_date:    {start}" in printed
    assert f"  end_date:      {end}" in printed
    assert f"  created_at:    {snapshot.created_at.isoformat()}" in printed
    # The totals as a table, one row a metric, whole numbers without a ".0".
    header = printed.index("  totals:") + 1
    assert columns(printed[header])[:2] == ["METRIC", "TOTAL"]
    rows = {
        columns(line)[0]: columns(line)[1] for line in printed[header + 1 :][: len(snapshot.totals)]
    }
    assert snapshot.totals
    assert rows == {metric: f"{value:.0f}" for metric, value in snapshot.totals.items()}
    assert "daily:" in [line.strip() for line in printed]
    assert not re.search(r"\d\.0\b", result.output)
    [written] = cli.crm_statistics(connection)
    assert written["totals"] == snapshot.totals
    assert written["webhook_id"] == f"{event.id}.location.statistics_synced"


def test_sync_json_prints_the_snapshot(cli: Cli) -> None:
    connection = cli.connection("acme")

    result = cli("stats", "sync", connection.id, "--json")

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    [event] = cli.store.list_events()
    snapshot = cli.store.latest_snapshot(connection.id)
    assert snapshot is not None
    assert printed["event_id"] == event.id
    assert printed["status"] == "done"
    assert printed["snapshot"]["id"] == snapshot.id
    assert printed["snapshot"]["totals"] == snapshot.totals
    # Counts are integers from GHL's answer to the JSON printed (never 508.0).
    assert all(type(value) is int for value in printed["snapshot"]["totals"].values())
    assert printed["snapshot"]["start_date"] == snapshot.start_date.isoformat()
    assert printed["snapshot"]["created_at"] == snapshot.created_at.isoformat()


def test_sync_plain_and_json_carry_the_same_fields(cli: Cli) -> None:
    cli.connection("acme")

    plain = lines(cli("stats", "sync", "acme").output)
    machine = json.loads(cli("stats", "sync", "acme", "--json").output)

    top = [line.split(":", 1)[0] for line in plain if re.match(r"\w+:", line)]
    inner = [line.strip().split(":", 1)[0] for line in plain if re.match(r"  \w+:", line)]
    assert top == list(machine)
    # "totals:" and "daily:" head the two tables; platforms are the columns of the first
    # and day_range the rows of the second.
    assert set(inner) | {"platforms", "day_range"} == set(machine["snapshot"])


def test_sync_enqueue_hands_the_run_to_the_workers(cli: Cli) -> None:
    cli.connection("acme")

    result = cli("stats", "sync", "acme", "--enqueue")

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert event.status == "queued"
    [task] = queued_tasks(cli.env["REDIS_URL"] or "")
    assert result.output == (
        f"queued {event.id} as task {task.id}; "
        f"follow it with: socialbridge events show {event.id}\n"
    )
    assert task.name == "flows.sync_statistics"
    assert task.args == [event.id, event.payload]


def test_sync_enqueue_json(cli: Cli) -> None:
    cli.connection("acme")

    result = cli("stats", "sync", "acme", "--enqueue", "--json")

    [event] = cli.store.list_events()
    answer = json.loads(result.output)
    assert answer == {"event_id": event.id, "task_id": answer["task_id"], "status": "queued"}
    assert answer["task_id"].startswith(f"{event.id}-")


def test_sync_enqueue_without_redis_fails_and_keeps_no_event(cli: Cli) -> None:
    cli.connection("acme")

    result = cli(
        "stats", "sync", "acme", "--enqueue", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"
    )

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: could not enqueue evt_")
    assert cli.store.list_events() == []


PARKED_HINT = (
    "the event runs once acme is active again: fix the cause (socialbridge connections check "
    "acme tries GHL and the CRM), then: socialbridge connections activate acme (its waiting "
    "events run then)"
)


def test_sync_with_refused_credentials_parks_the_connection_and_its_event_waits(
    cli: Cli,
) -> None:
    connection = cli.connection("acme", ghl_token="pit-revoked")

    result = cli("stats", "sync", "acme")

    assert result.exit_code == 1
    [event] = cli.store.list_events()
    assert event.status == "waiting"
    # One line: why it waits, then what brings the connection (and so the event) back.
    assert re.fullmatch(
        r"Error: waiting: connection is parked: credentials refused: ghl: Invalid JWT "
        rf"\(HTTP 401\) \[traceId [0-9a-f-]+\] \(event {event.id}\); " + re.escape(PARKED_HINT),
        lines(result.stderr)[-1],
    )
    parked = cli.store.get_connection(connection.id)
    assert parked is not None
    assert parked.status == "parked"


def test_sync_json_failure_prints_json_then_the_error(cli: Cli) -> None:
    cli.connection("acme", ghl_token="pit-revoked")

    result = cli("stats", "sync", "acme", "--json")

    assert result.exit_code == 1
    printed = json.loads(result.stdout)
    [event] = cli.store.list_events()
    assert printed == {
        "event_id": event.id,
        "status": "waiting",
        "error_kind": None,
        "error": printed["error"],
        "retry_in": None,
        "hint": PARKED_HINT,
    }
    assert printed["error"].startswith(
        "connection is parked: credentials refused: ghl: Invalid JWT (HTTP 401)"
    )
    assert result.stderr.startswith("Error: waiting: connection is parked: ")
    assert result.stderr.rstrip("\n").endswith(f"; {PARKED_HINT}")


def test_sync_on_a_disconnected_pit_connection_says_to_give_it_a_token_then_activate(
    cli: Cli,
) -> None:
    connection = cli.connection("acme")
    cli.store.disconnect_connection(connection.id, "disconnected with a test")

    plain = cli("stats", "sync", "acme")
    machine = cli("stats", "sync", "acme", "--json")

    hint = (
        "the event runs once acme is active again: reconnect it with: socialbridge connections "
        "update acme --ghl-token TOKEN, then: socialbridge connections activate acme (its "
        "waiting events run then)"
    )
    assert plain.exit_code == machine.exit_code == 1
    first, second = cli.store.list_events()[::-1]
    assert lines(plain.stderr)[-1] == (
        "Error: waiting: connection is disconnected: disconnected with a test "
        f"(event {first.id}); {hint}"
    )
    assert json.loads(machine.stdout) == {
        "event_id": second.id,
        "status": "waiting",
        "error_kind": None,
        "error": "connection is disconnected: disconnected with a test",
        "retry_in": None,
        "hint": hint,
    }
    # Waiting before any attempt: nothing was counted, and GHL was never called with no token.
    assert (first.status, first.attempts) == ("waiting", 0)


def test_sync_on_an_oauth_connection_not_installed_gives_its_install_url(cli: Cli) -> None:
    connection = cli.connection("acme", ghl_auth="oauth", ghl_token="", location_id="")

    result = cli("stats", "sync", "acme", "--json")

    assert result.exit_code == 1
    printed = json.loads(result.stdout)
    assert printed["status"] == "waiting"
    assert printed["error"] == (
        "connection is needs_reauth: not authorized yet: open the install URL "
        "(socialbridge connections show)"
    )
    assert printed["hint"] == (
        "the event runs once acme is active again: authorize it by opening "
        f"{PUBLIC_URL}/oauth/ghl/start?connection={connection.id} (choose the location and "
        "approve); its waiting events run once the install completes"
    )


def test_sync_meeting_a_ghl_outage_leaves_the_retry_to_the_workers(cli: Cli) -> None:
    cli.connection("acme")
    cli.ghl_fault(path_contains="/accounts", status=503, retry_after=42)

    result = cli("stats", "sync", "acme")

    assert result.exit_code == 1
    [event] = cli.store.list_events()
    assert event.status == "retrying"
    assert re.fullmatch(
        r"Error: not yet: ghl: .*\(HTTP 503\).*; the workers retry in 42 s "
        rf"\(event {event.id}\)",
        lines(result.stderr)[-1],
    )
    # The retry is the store's (next_attempt_at), sent by the workers' sweep when due: no
    # delayed message is queued from here.
    assert event.next_attempt_at is not None
    assert queued_tasks(cli.env["REDIS_URL"] or "") == []


def test_sync_json_meeting_a_ghl_outage_says_when_the_retry_comes(cli: Cli) -> None:
    cli.connection("acme")
    cli.ghl_fault(path_contains="/accounts", status=503, retry_after=42)

    result = cli("stats", "sync", "acme", "--json")

    assert result.exit_code == 1
    [event] = cli.store.list_events()
    printed = json.loads(result.stdout)
    assert printed == {
        "event_id": event.id,
        "status": "retrying",
        "error_kind": None,
        "error": printed["error"],
        "retry_in": 42,
        "hint": None,
    }
    assert "(HTTP 503)" in printed["error"]


def test_sync_of_an_unknown_connection_records_nothing(cli: Cli) -> None:
    result = cli("stats", "sync", "nope")

    assert result.exit_code == 2
    assert cli.store.list_events() == []
