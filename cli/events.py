"""`socialbridge events list|show|replay|retry-now`: the event log."""

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
from console.events import event_detail
from console.payloads import attempt_json
from console.replay import (
    NotEnqueued,
    NotFinished,
    NotRetrying,
    Replayed,
    RetryNotSent,
    replay_dead,
    replay_event,
    retry_now,
    retrying_events,
)
from store import AttemptRecord, EventRecord, EventStatus

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
    """One event with its payload, history fields and every attempt; a waiting one says what
    releases it."""
    detail = event_detail(runtime.store, event_id)
    if detail is None:
        raise click.BadParameter(f"no event {event_id!r}", param_hint="EVENT_ID")
    view = event_view(detail.event)
    hint: dict[str, str] = {}
    if detail.waits_for_connection and detail.connection is not None:
        hint["hint"] = waiting_hint(detail.connection, runtime.settings)
    if as_json:
        history = [attempt_json(a) for a in detail.attempts]
        emit_json({**view, "attempt_history": history, **hint})
        return
    emit_fields(view)
    click.echo("attempt_history:")
    emit_table([_attempt_row(a) for a in detail.attempts], ATTEMPT_COLUMNS, indent="  ")
    emit_fields(hint)


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
    replayed: list[Replayed] = []
    for event in {e.id: e for e in targets}.values():
        try:
            done = replay_event(runtime.store, runtime.celery, event)
        except NotFinished as exc:
            click.echo(str(exc), err=True)
            continue
        except NotEnqueued as exc:
            raise click.ClickException(str(exc)) from exc
        replayed.append(done)
        if not as_json:
            _say_replayed(done)
    if all_dead:
        # The events named above are queued now, so the dead ones left are the others.
        try:
            dead = replay_dead(runtime.store, runtime.celery, None)
        except NotEnqueued as exc:
            if not as_json:
                for done in exc.replayed:
                    _say_replayed(done)
            raise click.ClickException(str(exc)) from exc
        replayed += dead
        if not as_json:
            for done in dead:
                _say_replayed(done)
    if as_json:
        emit_json([asdict(done) for done in replayed])
    elif not replayed:
        click.echo("nothing to replay")


def _say_replayed(done: Replayed) -> None:
    click.echo(
        f"{done.event_id}: {done.status} again as task {done.task_id} ({done.type}, was {done.was})"
    )


@group.command("retry-now")
@click.argument("event_ids", nargs=-1)
@click.option(
    "--connection", help="Every retrying event of this connection (id or name; up to 1000)."
)
@json_option
@pass_runtime
def retry_now_(
    runtime: Runtime, event_ids: tuple[str, ...], connection: str | None, as_json: bool
) -> None:
    """Send retrying events now instead of when their backoff ends (attempts keep their
    count). One the recovery sweep or an attempt took meanwhile is left alone."""
    if not event_ids and connection is None:
        raise click.UsageError("name one or more EVENT_IDS, or give --connection")
    targets = [_get(runtime, event_id) for event_id in event_ids]
    if connection is not None:
        targets += retrying_events(runtime.store, runtime.connection(connection).id)
    sent: list[Replayed] = []
    for event in {e.id: e for e in targets}.values():
        try:
            done = retry_now(runtime.store, runtime.celery, event)
        except NotRetrying as exc:
            click.echo(str(exc), err=True)
            continue
        except RetryNotSent as exc:
            raise click.ClickException(str(exc)) from exc
        sent.append(done)
        if not as_json:
            click.echo(f"{done.event_id}: {done.status} now as task {done.task_id} ({done.type})")
    if as_json:
        emit_json([asdict(done) for done in sent])
    elif not sent:
        click.echo("nothing to retry")


ATTEMPT_COLUMNS = ["#", "REPLAY", "STARTED (UTC)", "TOOK (S)", "OUTCOME", "ERROR KIND", "ERROR"]


def _attempt_row(attempt: AttemptRecord) -> tuple[object, ...]:
    took = attempt.took
    return (
        attempt.number,
        attempt.replay,
        table_time(attempt.started_at),
        "" if took is None else f"{took.total_seconds():.3f}",
        attempt.outcome or "running",
        attempt.error_kind,
        short(attempt.error, 60),
    )


def _get(runtime: Runtime, event_id: str) -> EventRecord:
    event = runtime.store.get_event(event_id)
    if event is None:
        raise click.BadParameter(f"no event {event_id!r}", param_hint="EVENT_ID")
    return event
