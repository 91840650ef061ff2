"""`socialbridge connections add|list|show|check|update|rotate-secret|activate|remove`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from cli import params
from cli.render import connection_view, emit_fields, emit_json, emit_table
from cli.runtime import Runtime, json_option, pass_runtime
from crm.registry import KINDS
from socialbridge.errors import IntegrationError
from store import ConnectionRecord, DuplicateName


@click.group("connections")
def group() -> None:
    """CRM <-> GHL location connections."""


@contextlib.contextmanager
def refused_values(name: str | None) -> Iterator[None]:
    """The store's refusals of a connection's values as one-line errors (they name the field)."""
    try:
        yield
    except DuplicateName:
        raise click.ClickException(f"a connection named {name!r} exists already") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@group.command("add")
@click.option(
    "--name",
    required=True,
    callback=params.connection_name,
    help="Unique name, e.g. the agency; not starting with con_ (that is how ids start).",
)
@click.option(
    "--location-id",
    required=True,
    callback=params.location_id,
    help="GHL location (sub-account) id.",
)
@click.option(
    "--ghl-token",
    required=True,
    callback=params.ghl_token,
    help="GHL Private Integration token of the location.",
)
@click.option(
    "--crm-url", required=True, callback=params.http_url, help="Where write-backs are POSTed."
)
@click.option(
    "--crm-secret",
    callback=params.webhook_secret,
    help="whsec_ secret that signs write-backs (generated if omitted).",
)
@click.option("--crm-kind", type=click.Choice(KINDS), default="webhook", show_default=True)
@click.option(
    "--stats-interval",
    type=params.STATS_INTERVAL,
    default=None,
    help="Seconds between scheduled statistics syncs, 300 to 2678400 (31 days) "
    "[default: STATS_INTERVAL_SECONDS].",
)
@json_option
@pass_runtime
def add(
    runtime: Runtime,
    name: str,
    location_id: str,
    ghl_token: str,
    crm_url: str,
    crm_secret: str | None,
    crm_kind: str,
    stats_interval: int | None,
    as_json: bool,
) -> None:
    """Create a connection; print its webhook URL and the secret the CRM signs with."""
    if stats_interval is None:
        stats_interval = runtime.settings.stats_interval_seconds
    with refused_values(name):
        connection = runtime.store.create_connection(
            name=name,
            location_id=location_id,
            ghl_token=ghl_token,
            crm_url=crm_url,
            crm_secret=crm_secret,
            crm_kind=crm_kind,
            stats_interval_seconds=stats_interval,
        )
    result = {
        "id": connection.id,
        "name": connection.name,
        "webhook_url": webhook_url(runtime, connection),
        "webhook_secret": connection.webhook_secrets[0],
        "crm_secret": connection.crm_secret,
        "stats_interval_seconds": connection.stats_interval_seconds,
    }
    if as_json:
        emit_json(result)
        return
    click.echo(f"created connection {connection.id} ({connection.name})")
    click.echo(f"  webhook URL:     {result['webhook_url']}")
    click.echo(f"  webhook secret:  {result['webhook_secret']}   (the CRM signs events with it)")
    click.echo(f"  CRM secret:      {result['crm_secret']}   (write-backs are signed with it)")
    click.echo(
        f"  statistics sync: every {connection.stats_interval_seconds} s "
        "(beat picks it up within a minute)"
    )


@group.command("list")
@json_option
@pass_runtime
def list_(runtime: Runtime, as_json: bool) -> None:
    """Every connection, without secrets (--json: every field of `show`)."""
    connections = runtime.store.list_connections()
    if as_json:
        emit_json([view(runtime, c) for c in connections])
        return
    emit_table(
        [
            (c.id, c.name, c.location_id, c.crm_kind, c.status, c.stats_interval_seconds)
            for c in connections
        ],
        ["ID", "NAME", "LOCATION", "CRM", "STATUS", "STATS EVERY (s)"],
    )


@group.command("show")
@click.argument("connection")
@click.option("--secrets", "with_secrets", is_flag=True, help="Also print the decrypted secrets.")
@json_option
@pass_runtime
def show(runtime: Runtime, connection: str, with_secrets: bool, as_json: bool) -> None:
    """One connection (by id or name)."""
    shown = view(runtime, runtime.connection(connection), with_secrets=with_secrets)
    if as_json:
        emit_json(shown)
    else:
        emit_fields(shown)


@group.command("check")
@click.argument("connection")
@pass_runtime
def check(runtime: Runtime, connection: str) -> None:
    """Call GHL with the connection's token and reach its CRM; exit 1 if either fails."""
    record = runtime.connection(connection)
    failures = 0
    try:
        with runtime.services.ghl_for(record) as ghl:
            accounts = ghl.list_accounts(record.location_id)
        click.echo(f"GHL  ok: location {record.location_id}, {len(accounts)} social accounts")
    except (IntegrationError, ValueError) as exc:
        failures += 1
        click.echo(f"GHL  FAILED: {exc}", err=True)
    try:
        crm = runtime.services.crm_for(record)
        try:
            click.echo(f"CRM  ok: {crm.check()}")
        finally:
            crm.close()
    except (IntegrationError, ValueError) as exc:  # ValueError: a URL or secret it refuses
        failures += 1
        click.echo(f"CRM  FAILED: {exc}", err=True)
    if failures:
        raise SystemExit(1)


@group.command("update")
@click.argument("connection")
@click.option("--name", callback=params.connection_name, help="A new name (not con_…).")
@click.option("--ghl-token", callback=params.ghl_token, help="A new Private Integration token.")
@click.option("--crm-url", callback=params.http_url, help="A new URL for write-backs.")
@click.option("--crm-secret", callback=params.webhook_secret, help="A new whsec_ secret.")
@click.option(
    "--stats-interval",
    type=params.STATS_INTERVAL,
    help="Seconds between syncs, 300 to 2678400 (31 days).",
)
@json_option
@pass_runtime
def update(
    runtime: Runtime,
    connection: str,
    name: str | None,
    ghl_token: str | None,
    crm_url: str | None,
    crm_secret: str | None,
    stats_interval: int | None,
    as_json: bool,
) -> None:
    """Change a connection's name, credentials, CRM URL or schedule; the rest stays."""
    changes = {
        "name": name,
        "ghl_token": ghl_token,
        "crm_url": crm_url,
        "crm_secret": crm_secret,
        "stats_interval_seconds": stats_interval,
    }
    changed = sorted(key for key, value in changes.items() if value is not None)
    if not changed:
        raise click.UsageError(
            "give at least one of --name, --ghl-token, --crm-url, --crm-secret, --stats-interval"
        )
    record = runtime.connection(connection)
    with refused_values(name):
        updated = runtime.store.update_connection(
            record.id,
            name=name,
            ghl_token=ghl_token,
            crm_url=crm_url,
            crm_secret=crm_secret,
            stats_interval_seconds=stats_interval,
        )
    result = {"changed": changed, **view(runtime, updated)}
    if as_json:
        emit_json(result)
        return
    click.echo(f"updated {updated.id} ({updated.name}): {', '.join(changed)}")
    if updated.status != "active":
        click.echo(
            f"it is still {updated.status}; un-park it with: "
            f"socialbridge connections activate {updated.name}"
        )
    emit_fields(result)


@group.command("rotate-secret")
@click.argument("connection")
@click.option(
    "--retire",
    is_flag=True,
    help="Instead: keep only the newest secret, once the CRM signs with it.",
)
@json_option
@pass_runtime
def rotate_secret(runtime: Runtime, connection: str, retire: bool, as_json: bool) -> None:
    """Add a new webhook secret; both verify until the old one is retired.

    Both forms, with --retire or without, print the connection, the newest secret (the one
    the CRM should sign with) and how many secrets verify now.
    """
    record = runtime.connection(connection)
    if retire:
        active = runtime.store.retire_webhook_secrets(record.id, keep=1)
    else:
        secret = runtime.store.add_webhook_secret(record.id)
        rotated = runtime.store.get_connection(record.id)
        active = (secret,) if rotated is None else rotated.webhook_secrets
    result: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "webhook_secret": active[0],
        "active_secrets": len(active),
    }
    if as_json:
        emit_json(result)
    elif retire:
        click.echo(
            f"{record.id} ({record.name}): only the newest webhook secret verifies now "
            f"({len(active)} active): {active[0]}"
        )
    else:
        click.echo(
            f"new webhook secret of {record.id} ({record.name}): {active[0]} ({len(active)} active)"
        )
        click.echo(
            "give it to the CRM; the older ones keep working until: "
            f"socialbridge connections rotate-secret {record.name} --retire"
        )


@group.command("activate")
@click.argument("connection")
@pass_runtime
def activate(runtime: Runtime, connection: str) -> None:
    """Un-park a connection (after its credentials were fixed on the GHL or CRM side)."""
    record = runtime.connection(connection)
    if record.status == "active":
        click.echo(f"{record.id} ({record.name}) is active already")
        return
    runtime.store.activate_connection(record.id)
    reason = f": {record.status_reason}" if record.status_reason else ""
    click.echo(f"{record.id} ({record.name}) is active again (was {record.status}{reason})")
    click.echo("replay its dead events with: socialbridge events replay --dead")


@group.command("remove")
@click.argument("connection")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_runtime
def remove(runtime: Runtime, connection: str, yes: bool) -> None:
    """Delete a connection with its events, post records and snapshots."""
    record = runtime.connection(connection)
    if not yes:
        click.confirm(
            f"Delete {record.name} ({record.id}) with its event log and records?", abort=True
        )
    runtime.store.delete_connection(record.id)
    click.echo(f"removed {record.id} ({record.name}); its schedule stops within a minute")


def webhook_url(runtime: Runtime, connection: ConnectionRecord) -> str:
    return f"{runtime.settings.base_url}/webhooks/crm/{connection.id}"


def view(
    runtime: Runtime, connection: ConnectionRecord, *, with_secrets: bool = False
) -> dict[str, Any]:
    """A connection as users may see it (secrets only on request)."""
    return connection_view(connection, webhook_url(runtime, connection), with_secrets=with_secrets)
