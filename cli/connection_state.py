"""`socialbridge connections activate|disconnect|remove`: a connection in and out of service.

``activate`` resumes a parked, disconnected or re-authorized connection and queues its waiting
events again in order; ``disconnect`` deletes its GHL tokens, so its events wait; ``remove``
deletes it with everything recorded for it. The states: docs/architecture.md.
"""

from __future__ import annotations

import click

from cli.runtime import Runtime, pass_runtime
from console import connections
from console.hints import reconnect_hint
from store import GhlAuth

# Why a connection is disconnected when a user did it (GHL's UNINSTALL gives its own reason).
DISCONNECT_REASON = connections.DISCONNECT_REASON


@click.command("activate")
@click.argument("connection")
@pass_runtime
def activate(runtime: Runtime, connection: str) -> None:
    """Resume a connection (after its credentials were fixed) and run its waiting events.

    Its waiting events go back on the queue at once, in the order they came. A connection
    without a GHL token (disconnected, or OAuth not installed) needs one first.
    """
    record = runtime.connection(connection)
    try:
        done = connections.activate(runtime.store, runtime.celery, runtime.settings, record)
    except connections.ConnectionRefused as exc:
        raise click.ClickException(str(exc).removeprefix("ghl_token: ")) from None
    if done is None:
        click.echo(f"{record.id} ({record.name}) is active already")
        return
    reason = f": {done.reason}" if done.reason else ""
    click.echo(f"{record.id} ({record.name}) is active again (was {done.was}{reason})")
    click.echo(f"{done.released} waiting event(s) went back on the queue, in the order they came")
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
    if not connections.is_connected(record):
        click.echo(f"{record.id} ({record.name}) is disconnected already")
        click.echo(reconnect_hint(record, runtime.settings))
        return
    if not yes:
        click.confirm(
            f"Disconnect {record.name} ({record.id}) from GHL? Its GHL tokens are deleted and "
            "its events wait until it is authorized again",
            abort=True,
        )
    connections.disconnect(runtime.store, record)
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
    connections.delete_connection(runtime.store, connection_id)
    click.echo(f"removed {connection_id} ({name}); its schedule stops within a minute")
