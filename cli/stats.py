"""`socialbridge stats sync CONNECTION`: the statistics flow, now."""

from __future__ import annotations

from typing import Any

import click

from cli.hints import waiting_hint
from cli.render import emit_fields, emit_json, emit_snapshot, snapshot_view
from cli.runtime import Runtime, json_option, pass_runtime
from store import SnapshotRecord
from workers.dispatch import EnqueueError, enqueue_event
from workers.execution import DONE, RETRY, WAITING, execute_event
from workers.schedules import record_statistics_event


@click.group("stats")
def group() -> None:
    """Social statistics."""


@group.command("sync")
@click.argument("connection")
@click.option(
    "--enqueue", is_flag=True, help="Hand the run to the workers instead of running it here."
)
@json_option
@pass_runtime
def sync(runtime: Runtime, connection: str, enqueue: bool, as_json: bool) -> None:
    """Pull the location's statistics, store a snapshot and write it to the CRM.

    Runs the same flow (and leaves the same event in the log) as a `statistics.requested`
    webhook or the schedule. Both forms print the event id and status, then the snapshot
    (done) or the error (not done); an event that waits for its connection (not active) also
    gets the hint that says what brings the connection back.
    """
    record = runtime.connection(connection)
    event = record_statistics_event(runtime.store, record.id, source="cli")
    if enqueue:
        try:
            task_id = enqueue_event(runtime.celery, event)
        except EnqueueError as exc:
            runtime.store.discard_event(event.id)
            raise click.ClickException(str(exc)) from exc
        queued = {"event_id": event.id, "status": "queued", "task_id": task_id}
        if as_json:
            emit_json(queued)
        else:
            click.echo(
                f"queued {event.id} as task {task_id}; "
                f"follow it with: socialbridge events show {event.id}"
            )
        return

    progress = (lambda _: None) if as_json else (lambda line: click.echo(f"  {line}"))
    if not as_json:
        click.echo(f"syncing statistics of {record.name} (location {record.location_id}) ...")
    outcome = execute_event(runtime.services, event.id, progress=progress)
    if outcome.status == DONE and isinstance(outcome.result, SnapshotRecord):
        done: dict[str, Any] = {
            "event_id": event.id,
            "status": "done",
            "snapshot": snapshot_view(outcome.result),
        }
        if as_json:
            emit_json(done)
            return
        emit_fields({"event_id": done["event_id"], "status": done["status"]})
        click.echo("snapshot:")
        emit_snapshot(done["snapshot"], indent="  ")
        return
    after = runtime.store.get_event(event.id)
    hint = None
    if outcome.status == WAITING:
        # Read again: the attempt may just have parked it, or someone activated it since.
        hint = waiting_hint(runtime.store.get_connection(record.id) or record, runtime.settings)
    failed: dict[str, Any] = {
        "event_id": event.id,
        # The event's own status word (`retrying`, `waiting`, `dead`), as `events show` has it.
        "status": outcome.status if after is None else after.status,
        "error_kind": None if after is None else after.error_kind,
        "error": outcome.error,
        "retry_in": None if outcome.retry_in is None else round(outcome.retry_in),
        # What brings a waiting event's connection back; null for any other status.
        "hint": hint,
    }
    if outcome.status == RETRY:
        # The store holds the retry (next_attempt_at); the workers' recovery sweep sends it
        # when it is due, as for any event. Nothing is queued from here.
        message = f"not yet: {outcome.error}; the workers retry in {failed['retry_in']} s"
    else:
        kind = f" ({failed['error_kind']})" if failed["error_kind"] else ""
        message = f"{failed['status']}{kind}: {outcome.error}"
    message += f" (event {event.id})"
    if hint is not None:
        message += f"; {hint}"
    if as_json:
        emit_json(failed)
    raise click.ClickException(message)
