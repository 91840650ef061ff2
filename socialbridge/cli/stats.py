"""`socialbridge stats sync CONNECTION`: the statistics flow, now."""

from __future__ import annotations

import dataclasses

import click

from socialbridge.cli.runtime import Runtime, emit_json, json_option, pass_runtime, store_errors
from store import SnapshotRecord
from workers.dispatch import EnqueueError, enqueue_event
from workers.execution import DONE, RETRY, execute_event
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
    webhook or the schedule.
    """
    with store_errors():
        record = runtime.connection(connection)
        event = record_statistics_event(runtime.store, record.id, source="cli")
    if enqueue:
        try:
            task_id = enqueue_event(runtime.celery, event)
        except EnqueueError as exc:
            runtime.store.discard_event(event.id)
            raise click.ClickException(str(exc)) from exc
        if as_json:
            emit_json({"event_id": event.id, "task_id": task_id, "status": "queued"})
        else:
            click.echo(f"queued {event.id}; follow it with: socialbridge events show {event.id}")
        return

    progress = (lambda _: None) if as_json else (lambda line: click.echo(f"  {line}"))
    if not as_json:
        click.echo(f"syncing statistics of {record.name} (location {record.location_id}) ...")
    outcome = execute_event(runtime.services, event.id, progress=progress)
    if outcome.status == DONE and isinstance(outcome.result, SnapshotRecord):
        snapshot = outcome.result
        if as_json:
            emit_json(
                {"event_id": event.id, "status": "done", "snapshot": dataclasses.asdict(snapshot)}
            )
            return
        click.echo(f"done: snapshot {snapshot.id} for {snapshot.start_date}..{snapshot.end_date}")
        for metric, value in sorted(snapshot.totals.items()):
            click.echo(f"  {metric:<12}{value:g}")
        return
    if outcome.status == RETRY:
        # Leave the retry to the workers, with the delay the flow asked for.
        try:
            enqueue_event(runtime.celery, event, countdown=outcome.retry_in)
        except EnqueueError as exc:
            raise click.ClickException(
                f"{outcome.error}; and it could not be queued: {exc}"
            ) from exc
        message = f"not yet: {outcome.error}; the workers retry in {outcome.retry_in:.0f} s"
    else:
        message = f"{outcome.status}: {outcome.error}"
    if as_json:
        emit_json({"event_id": event.id, "status": outcome.status, "error": outcome.error})
    raise click.ClickException(message + f" (event {event.id})")
