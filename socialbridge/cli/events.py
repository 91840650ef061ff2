"""`socialbridge events list|show|replay`: the event log."""

from __future__ import annotations

import dataclasses

import click

from socialbridge.cli.runtime import (
    Runtime,
    emit_json,
    emit_table,
    json_option,
    pass_runtime,
    store_errors,
)
from store import EventRecord
from workers.dispatch import EnqueueError, enqueue_event

STATUSES = ("queued", "processing", "retrying", "done", "dead")


@click.group("events")
def group() -> None:
    """The event log: every webhook, schedule and CLI run, with its status."""


@group.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only events in this status.")
@click.option("--connection", help="Only this connection (id or name).")
@click.option("--type", "event_type", help="Only this event type.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
@pass_runtime
def list_(
    runtime: Runtime,
    status: str | None,
    connection: str | None,
    event_type: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Newest events first."""
    with store_errors():
        connection_id = runtime.connection(connection).id if connection else None
        events = runtime.store.list_events(
            connection_id=connection_id, status=status, type=event_type, limit=limit
        )
    if as_json:
        emit_json([dataclasses.asdict(e) for e in events])
        return
    emit_table(
        [
            (
                e.id,
                e.type,
                e.source,
                e.status,
                e.attempts,
                e.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
                _short(e.last_error),
            )
            for e in events
        ],
        ["ID", "TYPE", "SOURCE", "STATUS", "ATTEMPTS", "UPDATED (UTC)", "LAST ERROR"],
    )


@group.command("show")
@click.argument("event_id")
@json_option
@pass_runtime
def show(runtime: Runtime, event_id: str, as_json: bool) -> None:
    """One event with its payload and history fields."""
    event = _get(runtime, event_id)
    if as_json:
        emit_json(dataclasses.asdict(event))
        return
    for field in dataclasses.fields(event):
        click.echo(f"{field.name + ':':<18}{getattr(event, field.name)}")


@group.command("replay")
@click.argument("event_ids", nargs=-1)
@click.option("--dead", "all_dead", is_flag=True, help="Replay every dead event.")
@json_option
@pass_runtime
def replay(runtime: Runtime, event_ids: tuple[str, ...], all_dead: bool, as_json: bool) -> None:
    """Queue events again (attempts start over). Done events are replayed too, on purpose."""
    if not event_ids and not all_dead:
        raise click.UsageError("name one or more EVENT_IDS, or give --dead")
    with store_errors():
        targets = [_get(runtime, event_id) for event_id in event_ids]
        if all_dead:
            targets += runtime.store.list_events(status="dead", limit=1000)
    replayed: list[dict[str, str]] = []
    for event in {e.id: e for e in targets}.values():
        if event.status in ("queued", "processing", "retrying"):
            click.echo(f"{event.id}: still {event.status}, left alone", err=True)
            continue
        requeued = runtime.store.requeue(event.id)
        try:
            task_id = enqueue_event(runtime.celery, requeued)
        except EnqueueError as exc:
            runtime.store.mark_dead(event.id, f"replay could not be enqueued: {exc}")
            raise click.ClickException(f"{event.id}: {exc} (left dead; try again)") from exc
        replayed.append({"event_id": event.id, "task_id": task_id, "status": "queued"})
        if not as_json:
            click.echo(f"{event.id}: queued again ({event.type}, was {event.status})")
    if as_json:
        emit_json(replayed)
    elif not replayed:
        click.echo("nothing to replay")


def _get(runtime: Runtime, event_id: str) -> EventRecord:
    with store_errors():
        event = runtime.store.get_event(event_id)
    if event is None:
        raise click.BadParameter(f"no event {event_id!r}", param_hint="EVENT_ID")
    return event


def _short(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"
