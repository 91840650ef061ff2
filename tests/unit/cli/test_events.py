"""`socialbridge events list|show|replay|retry-now`."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from socialbridge.embedded_redis import free_port
from store import ConnectionRecord, EventRecord
from tests.brokerutil import queue_length, queued_tasks
from tests.unit.cli.conftest import Cli, columns, lines

LONG_ERROR = "ghl: " + "the server said something long " * 5
OPERATIONS = Path(__file__).resolve().parents[3] / "docs" / "operations.md"
ISO_8601 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")


def record(
    cli: Cli,
    connection: ConnectionRecord,
    event_type: str = "post.published",
    status: str = "queued",
    error: str = "gave up",
) -> EventRecord:
    data = {"post_id": "crm-1"} if event_type == "post.published" else {}
    payload = {"type": event_type, "timestamp": "2026-11-23T10:00:00+00:00", "data": data}
    event, _ = cli.store.record_event(connection_id=connection.id, type=event_type, payload=payload)
    if status == "dead":
        event = cli.store.mark_dead(event.id, error, "permanent")
    elif status == "done":
        cli.store.start_attempt(event.id, None, lease_seconds=20)
        event = cli.store.mark_done(event.id)
    return event


# --- list -----------------------------------------------------------------------------------


def test_list_without_events_says_none(cli: Cli) -> None:
    result = cli("events", "list")

    assert result.exit_code == 0
    assert result.output == "(none)\n"


def test_list_is_a_table_newest_first_with_short_errors(cli: Cli) -> None:
    connection = cli.connection()
    older = record(cli, connection, "statistics.requested", "done")
    newer = record(cli, connection, status="dead", error=LONG_ERROR)

    result = cli("events", "list")

    assert result.exit_code == 0
    header, *rows = lines(result.output)
    assert columns(header) == [
        "ID",
        "TYPE",
        "SOURCE",
        "STATUS",
        "ATTEMPTS",
        "CREATED (UTC)",
        "FINISHED (UTC)",
        "ERROR KIND",
        "LAST ERROR",
    ]
    first, second = (columns(row) for row in rows)
    assert newer.finished_at is not None
    assert older.finished_at is not None
    assert first == [
        newer.id,
        "post.published",
        "webhook",
        "dead",
        "0",
        newer.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        newer.finished_at.strftime("%Y-%m-%d %H:%M:%S"),
        "permanent",
        LONG_ERROR[:49] + "…",
    ]
    assert second == [
        older.id,
        "statistics.requested",
        "webhook",
        "done",
        "1",
        older.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        older.finished_at.strftime("%Y-%m-%d %H:%M:%S"),
    ]


def test_list_filters_by_status_connection_and_type(cli: Cli) -> None:
    acme = cli.connection("acme")
    zeta = cli.connection("zeta")
    dead = record(cli, acme, status="dead")
    stats = record(cli, acme, "statistics.requested")
    other = record(cli, zeta)

    def ids(*args: str) -> list[str]:
        result = cli("events", "list", "--json", *args)
        assert result.exit_code == 0, result.output
        return [event["id"] for event in json.loads(result.output)]

    assert ids("--status", "dead") == [dead.id]
    assert ids("--connection", "zeta") == [other.id]
    assert ids("--connection", acme.id, "--type", "statistics.requested") == [stats.id]
    assert ids("--limit", "1") == [other.id]


def test_list_json_has_every_field(cli: Cli) -> None:
    event = record(cli, cli.connection())

    result = cli("events", "list", "--json")

    [listed] = json.loads(result.output)
    assert listed["id"] == event.id
    assert listed["payload"] == event.payload
    assert listed["status"] == "queued"
    assert listed["attempts"] == 0
    assert listed["error_kind"] is None
    assert listed["created_at"] == event.created_at.isoformat()
    assert ISO_8601.fullmatch(listed["created_at"])
    assert listed["finished_at"] is None


def documented_event_fields(command: str = "show") -> list[str]:
    """The field names of the table under "## Event fields" in docs/operations.md; for
    ``list``, without the ones whose meaning starts "`events show` only"."""
    section = OPERATIONS.read_text().split("\n## Event fields\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|[^|]*\| (.*) \|$", section, flags=re.MULTILINE)
    return [
        name
        for name, meaning in rows
        if command == "show" or not meaning.startswith("`events show` only")
    ]


@pytest.mark.parametrize("command", ["list", "show"])
def test_the_json_fields_are_the_documented_ones_in_their_order(cli: Cli, command: str) -> None:
    event = record(cli, cli.connection(), status="dead", error="ghl: gone (HTTP 400)")
    args = ["events", command, "--json"] + ([event.id] if command == "show" else [])

    result = cli(*args)

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    shown: dict[str, Any] = printed[0] if command == "list" else printed
    documented = documented_event_fields(command)
    promised = {"id", "type", "status", "attempts", "last_error", "error_kind", "created_at"}
    assert promised | {"finished_at"} <= set(documented)
    assert list(shown) == documented


def test_json_timestamps_are_iso_8601_and_numbers_integers(cli: Cli) -> None:
    event = record(cli, cli.connection(), status="done")

    result = cli("events", "show", event.id, "--json")

    shown = json.loads(result.output)
    for field in ("created_at", "updated_at", "started_at", "finished_at"):
        assert ISO_8601.fullmatch(shown[field]), (field, shown[field])
    assert shown["attempts"] == 1
    assert isinstance(shown["attempts"], int)
    assert isinstance(shown["replays"], int)


def test_list_refuses_an_unknown_status_or_connection(cli: Cli) -> None:
    bad_status = cli("events", "list", "--status", "lost")
    bad_connection = cli("events", "list", "--connection", "nope")

    assert bad_status.exit_code == 2
    assert "Invalid value for '--status'" in bad_status.stderr
    assert bad_connection.exit_code == 2
    assert lines(bad_connection.stderr)[-1] == (
        "Error: Invalid value for CONNECTION: no connection 'nope' (connections: none yet)"
    )


# --- show -----------------------------------------------------------------------------------


def test_show_prints_every_field_in_words(cli: Cli) -> None:
    event = record(cli, cli.connection(), status="dead", error="ghl: gone (HTTP 400)")

    result = cli("events", "show", event.id)

    assert result.exit_code == 0
    shown = lines(result.output)
    assert shown[0] == f"{'id:':<17}{event.id}"
    assert f"{'status:':<17}dead" in shown
    assert f"{'error_kind:':<17}permanent" in shown
    assert f"{'last_error:':<17}ghl: gone (HTTP 400)" in shown
    assert f"{'payload:':<17}{json.dumps(event.payload)}" in shown
    assert f"{'task_id:':<17}-" in shown
    assert f"{'created_at:':<17}{event.created_at.isoformat()}" in shown
    # Words, not Python: no None, no dict repr.
    assert "None" not in result.output
    assert "{'" not in result.output


def test_show_plain_and_json_carry_the_same_fields(cli: Cli) -> None:
    event = record(cli, cli.connection(), status="done")

    plain = cli("events", "show", event.id)
    machine = cli("events", "show", event.id, "--json")

    # The attempts' table is indented under its field's line.
    names = [line.split(":", 1)[0] for line in lines(plain.output) if not line.startswith(" ")]
    assert names == list(json.loads(machine.output))


def test_show_json_parses(cli: Cli) -> None:
    event = record(cli, cli.connection())

    result = cli("events", "show", event.id, "--json")

    shown = json.loads(result.output)
    assert shown["id"] == event.id
    assert shown["type"] == "post.published"
    assert shown["finished_at"] is None


def test_show_of_an_unknown_event_is_a_usage_error(cli: Cli) -> None:
    result = cli("events", "show", "evt_nope")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == "Error: Invalid value for EVENT_ID: no event 'evt_nope'"


# --- replay ---------------------------------------------------------------------------------


def test_replay_queues_a_dead_event_again_with_a_fresh_budget(cli: Cli) -> None:
    event = record(cli, cli.connection(), status="dead", error="ghl: down")

    result = cli("events", "replay", event.id)

    assert result.exit_code == 0, result.output
    [task] = queued_tasks(cli.env["REDIS_URL"] or "")
    assert result.output == (
        f"{event.id}: queued again as task {task.id} (post.published, was dead)\n"
    )
    replayed = cli.store.get_event(event.id)
    assert replayed is not None
    assert replayed.status == "queued"
    assert replayed.attempts == 0
    assert replayed.last_error == "ghl: down"
    assert task.name == "flows.sync_post_tags"
    assert task.args == [event.id, event.payload]


def test_replay_dead_takes_every_dead_event_and_json_lists_them(cli: Cli) -> None:
    connection = cli.connection()
    dead = [record(cli, connection, status="dead") for _ in range(2)]
    record(cli, connection, status="done")

    result = cli("events", "replay", "--dead", "--json")

    assert result.exit_code == 0, result.output
    replayed = json.loads(result.output)
    assert sorted(r["event_id"] for r in replayed) == sorted(e.id for e in dead)
    assert {r["status"] for r in replayed} == {"queued"}
    assert {(r["type"], r["was"]) for r in replayed} == {("post.published", "dead")}
    assert all(r["task_id"].startswith(f"{r['event_id']}-") for r in replayed)
    assert queue_length(cli.env["REDIS_URL"] or "") == 2


def test_replay_dead_with_ids_takes_every_connections_dead_events_once(cli: Cli) -> None:
    acme = cli.connection()
    zeta = cli.connection("zeta")
    named = record(cli, acme, status="dead")
    done = record(cli, zeta, status="done")
    other = record(cli, zeta, status="dead")
    record(cli, acme)

    result = cli("events", "replay", named.id, done.id, "--dead")

    assert result.exit_code == 0, result.output
    tasks = {task.args[0]: task.id for task in queued_tasks(cli.env["REDIS_URL"] or "")}
    assert set(tasks) == {named.id, done.id, other.id}
    # The events named first, in their order; then the dead ones left, each said once.
    assert lines(result.output) == [
        f"{named.id}: queued again as task {tasks[named.id]} (post.published, was dead)",
        f"{done.id}: queued again as task {tasks[done.id]} (post.published, was done)",
        f"{other.id}: queued again as task {tasks[other.id]} (post.published, was dead)",
    ]


def test_replay_dead_without_dead_events_says_nothing_to_replay(cli: Cli) -> None:
    record(cli, cli.connection(), status="done")

    result = cli("events", "replay", "--dead")

    assert result.exit_code == 0
    assert result.output == "nothing to replay\n"
    assert queue_length(cli.env["REDIS_URL"] or "") == 0


def test_replay_dead_the_broker_refuses_is_an_error_and_leaves_them_dead(cli: Cli) -> None:
    connection = cli.connection()
    dead = [record(cli, connection, status="dead") for _ in range(2)]

    result = cli("events", "replay", "--dead", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.endswith("(left dead; try again)\n")
    for event in dead:
        after = cli.store.get_event(event.id)
        assert after is not None
        assert after.status == "dead"


def test_replay_runs_a_done_event_again_on_purpose(cli: Cli) -> None:
    event = record(cli, cli.connection(), status="done")

    result = cli("events", "replay", event.id)

    assert result.exit_code == 0
    [task] = queued_tasks(cli.env["REDIS_URL"] or "")
    assert result.output == (
        f"{event.id}: queued again as task {task.id} (post.published, was done)\n"
    )


def test_replay_leaves_an_event_in_flight_alone(cli: Cli) -> None:
    event = record(cli, cli.connection())

    result = cli("events", "replay", event.id)

    assert result.exit_code == 0
    assert result.stderr == f"{event.id}: still queued, left alone\n"
    assert result.stdout == "nothing to replay\n"
    assert queue_length(cli.env["REDIS_URL"] or "") == 0


def test_replay_needs_ids_or_dead(cli: Cli) -> None:
    result = cli("events", "replay")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == "Error: name one or more EVENT_IDS, or give --dead"


def test_replay_that_cannot_be_enqueued_leaves_the_event_dead(cli: Cli) -> None:
    event = record(cli, cli.connection(), status="dead")

    result = cli("events", "replay", event.id, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {event.id}: could not enqueue {event.id}: ")
    assert result.stderr.endswith("(left dead; try again)\n")
    after = cli.store.get_event(event.id)
    assert after is not None
    assert after.status == "dead"
    assert after.last_error is not None
    assert after.last_error.startswith("replay could not be enqueued: ")


def test_show_of_a_waiting_event_says_what_releases_it(cli: Cli) -> None:
    connection = cli.connection()
    event = record(cli, connection)
    cli.store.park_connection(connection.id, "credentials refused: ghl: Invalid JWT")
    cli.store.mark_waiting(event.id, "connection is parked: credentials refused")

    plain = cli("events", "show", event.id)
    machine = json.loads(cli("events", "show", event.id, "--json").output)

    assert machine["status"] == "waiting"
    assert f"socialbridge connections activate {connection.name}" in machine["hint"]
    name, _, value = lines(plain.output)[-1].partition(":")
    assert (name, value.strip()) == ("hint", machine["hint"])


# --- attempts and retry-now -------------------------------------------------------------------


def retrying(cli: Cli, connection: ConnectionRecord, error: str = "ghl: 503") -> EventRecord:
    event = record(cli, connection)
    cli.store.start_attempt(event.id, "task-1", lease_seconds=20)
    due = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    return cli.store.mark_retrying(event.id, error, due)


def test_show_prints_every_attempt(cli: Cli) -> None:
    event = retrying(cli, cli.connection(), "crm: refused (HTTP 503)")
    assert cli.store.retry_now(event.id) is not None
    cli.store.start_attempt(event.id, "task-2", lease_seconds=20)

    plain = cli("events", "show", event.id)
    machine = cli("events", "show", event.id, "--json")

    assert plain.exit_code == 0, plain.output
    table = plain.output.split("attempt_history:\n", 1)[1]
    header, first, second = lines(table)
    assert columns(header) == [
        "#",
        "REPLAY",
        "STARTED (UTC)",
        "TOOK (S)",
        "OUTCOME",
        "ERROR KIND",
        "ERROR",
    ]
    assert columns(first)[0:2] == ["1", "0"]
    assert columns(first)[4:] == ["retrying", "retryable", "crm: refused (HTTP 503)"]
    assert columns(second)[0:2] == ["2", "0"]
    assert columns(second)[-1] == "running"  # no time taken yet, no error
    history = json.loads(machine.output)["attempt_history"]
    assert [(a["number"], a["task_id"], a["outcome"]) for a in history] == [
        (1, "task-1", "retrying"),
        (2, "task-2", None),
    ]
    assert history[0]["error"] == "crm: refused (HTTP 503)"


def test_show_of_an_event_without_attempts_says_none(cli: Cli) -> None:
    event = record(cli, cli.connection(), status="dead")

    result = cli("events", "show", event.id)

    assert result.output.endswith("attempt_history:\n  (none)\n")


def test_retry_now_sends_retrying_events_at_once(cli: Cli) -> None:
    connection = cli.connection()
    event = retrying(cli, connection)

    result = cli("events", "retry-now", event.id)

    assert result.exit_code == 0, result.output
    [task] = queued_tasks(cli.env["REDIS_URL"] or "")
    assert result.output == f"{event.id}: queued now as task {task.id} (post.published)\n"
    after = cli.store.get_event(event.id)
    assert after is not None
    assert (after.status, after.attempts, after.next_attempt_at) == ("queued", 1, None)

    again = cli("events", "retry-now", event.id)
    assert again.exit_code == 0
    assert f"{event.id}: queued, not waiting for a retry; left alone" in again.stderr
    assert again.stdout == "nothing to retry\n"
    assert queue_length(cli.env["REDIS_URL"] or "") == 1


def test_retry_now_of_a_connection_takes_its_retrying_events(cli: Cli) -> None:
    connection = cli.connection()
    mine = {retrying(cli, connection).id for _ in range(2)}
    record(cli, connection, status="dead")

    result = cli("events", "retry-now", "--connection", connection.name, "--json")

    assert result.exit_code == 0, result.output
    sent = json.loads(result.output)
    assert {s["event_id"] for s in sent} == mine
    assert {(s["was"], s["status"]) for s in sent} == {("retrying", "queued")}
    assert queue_length(cli.env["REDIS_URL"] or "") == 2


def test_retry_now_needs_events_or_a_connection(cli: Cli) -> None:
    result = cli("events", "retry-now")

    assert result.exit_code == 2
    assert "name one or more EVENT_IDS, or give --connection" in result.stderr
