"""`socialbridge events list|show|replay`: the event log."""

from __future__ import annotations

from dataclasses import asdict

import click

from cli.hints import waiting_hint
from cli.params import LIST_LIMIT
from cli.render import (
    emit_fields,
    emit_json,
    emit_table,
    event_view,
    short,
    table_time,
)
from cli.runtime import Runtime, json_option, pass_runtime
from console.replay import NotEnqueued, NotFinished, dead_events, replay_event
from store import EventRecord, EventStatus

STATUSES = tuple(status.value for status in EventStatus)


@click.group("events")
def group() -> None:
    """The event log: every webhook, schedule and CLI run, with its status."""


@group.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only events in this status.")
@click.option("--connection", help="Only this connection (id or name).")
@click.option("--type", "event_type", help="Only this event type.")
@click.option("--limit", type=LIST_LIMIT, default=50, show_default=True, help="1 to 1000.")
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
    """Newest events first (--json: every field, as `events show`)."""
    connection_id = runtime.connection(connection).id if connection else None
    events = runtime.store.list_events(
        connection_id=connection_id, status=status, type=event_type, limit=limit
    )
    if as_json:
        emit_json([event_view(e) for e in events])
        return
    emit_table(
        [
            (
                e.id,
                e.type,
                e.source,
                e.status,
                e.attempts,
                table_time(e.created_at),
                table_time(e.finished_at),
                e.error_kind,
                short(e.last_error, 50),
            )
            for e in events
        ],
        [
            "ID",
            "TYPE",
            "SOURCE",
            "STATUS",
            "ATTEMPTS",
            "CREATED (UTC)",
            "FINISHED (UTC)",
            "ERROR KIND",
            "LAST ERROR",
        ],
    )


@group.command("show")
@click.argument("event_id")
@json_option
@pass_runtime
def show(runtime: Runtime, event_id: str, as_json: bool) -> None:
    """One event with its payload and history fields; a waiting one says what releases it."""
    event = _get(runtime, event_id)
    view = event_view(event)
    if event.status == EventStatus.WAITING:
        connection = runtime.store.get_connection(event.connection_id)
        if connection is not None:
            view["hint"] = waiting_hint(connection, runtime.settings)
    if as_json:
        emit_json(view)
    else:
        emit_fields(view)


@group.command("replay")
@click.argument("event_ids", nargs=-1)
@click.option("--dead", "all_dead", is_flag=True, help="Replay every dead event (up to 1000).")
@json_option
@pass_runtime
def replay(runtime: Runtime, event_ids: tuple[str, ...], all_dead: bool, as_json: bool) -> None:
    """Queue events again (attempts start over). Done events are replayed too, on purpose."""
    if not event_ids and not all_dead:
        raise click.UsageError("name one or more EVENT_IDS, or give --dead")
    targets = [_get(runtime, event_id) for event_id in event_ids]
    if all_dead:
        targets += dead_events(runtime.store)
    replayed: list[dict[str, str]] = []
    for event in {e.id: e for e in targets}.values():
        try:
            done = replay_event(runtime.store, runtime.celery, event)
        except NotFinished as exc:
            click.echo(str(exc), err=True)
            continue
        except NotEnqueued as exc:
            raise click.ClickException(str(exc)) from exc
        replayed.append(asdict(done))
        if not as_json:
            click.echo(
                f"{done.event_id}: {done.status} again as task {done.task_id} "
                f"({done.type}, was {done.was})"
            )
    if as_json:
        emit_json(replayed)
    elif not replayed:
        click.echo("nothing to replay")


def _get(runtime: Runtime, event_id: str) -> EventRecord:
    event = runtime.store.get_event(event_id)
    if event is None:
        raise click.BadParameter(f"no event {event_id!r}", param_hint="EVENT_ID")
    return event
