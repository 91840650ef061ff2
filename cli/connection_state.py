"""`socialbridge connections activate|disconnect|remove`: a connection in and out of service.

``activate`` resumes a parked, disconnected or re-authorized connection and queues its waiting
events again in order; ``disconnect`` deletes its GHL tokens, so its events wait; ``remove``
deletes it with everything recorded for it. The states: docs/architecture.md.
"""

from __future__ import annotations

import click

from cli.hints import reconnect_hint, status_words
from cli.runtime import Runtime, pass_runtime
from store import ConnectionStatus, GhlAuth
from workers.release import activate_and_enqueue

# Why a connection is disconnected when a user did it (GHL's UNINSTALL gives its own reason).
DISCONNECT_REASON = "disconnected with `socialbridge connections disconnect`"


@click.command("activate")
@click.argument("connection")
@pass_runtime
def activate(runtime: Runtime, connection: str) -> None:
    """Resume a connection (after its credentials were fixed) and run its waiting events.

    Its waiting events go back on the queue at once, in the order they came. A connection
    without a GHL token (disconnected, or OAuth not installed) needs one first.
    """
    record = runtime.connection(connection)
    if record.status == ConnectionStatus.ACTIVE:
        click.echo(f"{record.id} ({record.name}) is active already")
        return
    if not record.has_ghl_token:
        raise click.ClickException(
            f"{record.name} has no GHL token ({status_words(record)}): "
            + reconnect_hint(record, runtime.settings)
        )
    try:
        released = activate_and_enqueue(runtime.store, runtime.celery, record.id)
    except ValueError as exc:  # the token went (a disconnect) since it was read
        raise click.ClickException(str(exc)) from None
    reason = f": {record.status_reason}" if record.status_reason else ""
    click.echo(f"{record.id} ({record.name}) is active again (was {record.status}{reason})")
    click.echo(f"{len(released)} waiting event(s) went back on the queue, in the order they came")
    if runtime.store.list_events(connection_id=record.id, status="dead", limit=1):
        click.echo("replay its dead events with: socialbridge events replay --dead")


@click.command("disconnect")
@click.argument("connection")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_runtime
def disconnect(runtime: Runtime, connection: str, yes: bool) -> None:
    """Delete the connection's GHL tokens; its events wait until it is authorized again.

    An OAuth connection's token refreshes stop, and so does every connection's statistics
    schedule (both run for active connections only). Reconnecting needs a new authorization:
    a new Private Integration token, or the install URL again. The tokens are deleted here
    only: to revoke the app's access at GHL too, uninstall it there (GHL then tells us).
    """
    record = runtime.connection(connection)
    if record.status == ConnectionStatus.DISCONNECTED and not record.has_ghl_token:
        click.echo(f"{record.id} ({record.name}) is disconnected already")
        click.echo(reconnect_hint(record, runtime.settings))
        return
    if not yes:
        click.confirm(
            f"Disconnect {record.name} ({record.id}) from GHL? Its GHL tokens are deleted and "
            "its events wait until it is authorized again",
            abort=True,
        )
    runtime.store.disconnect_connection(record.id, DISCONNECT_REASON)
    stops = (
        "its token refreshes stop, its statistics schedule within a minute"
        if record.ghl_auth == GhlAuth.OAUTH
        else "its statistics schedule stops within a minute"
    )
    click.echo(
        f"disconnected {record.id} ({record.name}): its GHL tokens are deleted, its events "
        f"wait; {stops}"
    )
    click.echo(reconnect_hint(record, runtime.settings))


@click.command("remove")
@click.argument("connection")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_runtime
def remove(runtime: Runtime, connection: str, yes: bool) -> None:
    """Delete a connection with its events, post records and snapshots."""
    # Found without decrypting: a connection whose secrets cannot be read can still go.
    found = runtime.store.find_connection_name(connection)
    if found is None:
        runtime.connection(connection)  # the usual error, listing the connections
        return
    connection_id, name = found
    if not yes:
        click.confirm(
            f"Delete {name} ({connection_id}) with its event log and records?", abort=True
        )
    runtime.store.delete_connection(connection_id)
    click.echo(f"removed {connection_id} ({name}); its schedule stops within a minute")
