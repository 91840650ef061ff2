"""`socialbridge stats sync CONNECTION`: the statistics flow run here, or handed to the workers."""

from __future__ import annotations

import datetime as dt
import json
import re

from socialbridge.embedded_redis import free_port
from tests.brokerutil import queued_tasks
from tests.unit.socialbridge.cli.conftest import Cli, lines
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
    totals = [f"  {metric:<12}{value:g}" for metric, value in sorted(snapshot.totals.items())]
    assert lines(result.output) == [
        "syncing statistics of acme (location loc_demo) ...",
        "  6 accounts, 5 with a profileId",
        "  statistics batch 1/1: 5 profiles",
        f"  wrote location.statistics_synced for {start}..{end}",
        f"done: snapshot {snapshot.id} for {start}..{end}",
        *totals,
    ]
    assert totals
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
    assert printed["snapshot"]["start_date"] == str(snapshot.start_date)


def test_sync_enqueue_hands_the_run_to_the_workers(cli: Cli) -> None:
    cli.connection("acme")

    result = cli("stats", "sync", "acme", "--enqueue")

    assert result.exit_code == 0, result.output
    [event] = cli.store.list_events()
    assert event.status == "queued"
    assert result.output == (
        f"queued {event.id}; follow it with: socialbridge events show {event.id}\n"
    )
    [task] = queued_tasks(cli.env["REDIS_URL"] or "")
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


def test_sync_with_refused_credentials_says_dead_and_parks(cli: Cli) -> None:
    connection = cli.connection("acme", ghl_token="pit-revoked")

    result = cli("stats", "sync", "acme")

    assert result.exit_code == 1
    [event] = cli.store.list_events()
    assert re.fullmatch(
        rf"Error: dead: ghl: Invalid JWT \(HTTP 401\) \[traceId [0-9a-f-]+\] \(event {event.id}\)",
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
    assert printed["status"] == "dead"
    assert printed["error"].startswith("ghl: Invalid JWT (HTTP 401)")
    assert result.stderr.startswith("Error: dead: ")


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
    [task] = queued_tasks(cli.env["REDIS_URL"] or "")
    assert task.name == "flows.sync_statistics"
    assert task.args == [event.id, event.payload]
    assert task.eta is not None


def test_sync_of_an_unknown_connection_records_nothing(cli: Cli) -> None:
    result = cli("stats", "sync", "nope")

    assert result.exit_code == 2
    assert cli.store.list_events() == []
