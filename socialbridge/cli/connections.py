"""`socialbridge connections add|list|show|check|remove`."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlparse

import click

from crm.registry import KINDS
from socialbridge.cli.runtime import (
    Runtime,
    emit_json,
    emit_table,
    json_option,
    pass_runtime,
    store_errors,
)
from socialbridge.errors import IntegrationError
from store import ConnectionRecord, DuplicateName


@click.group("connections")
def group() -> None:
    """CRM <-> GHL location connections."""


# The checks pass None through: an option `update` was not given stays unchanged.


def _http_url(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise click.BadParameter(f"expected an http(s) URL, got {value!r}")
    return value


def _not_blank(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("must not be empty")
    return value.strip()


def _secret(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith("whsec_"):
        raise click.BadParameter("expected a Standard Webhooks secret starting with whsec_")
    return value


@group.command("add")
@click.option("--name", required=True, callback=_not_blank, help="Unique name, e.g. the agency.")
@click.option(
    "--location-id", required=True, callback=_not_blank, help="GHL location (sub-account) id."
)
@click.option(
    "--ghl-token",
    required=True,
    callback=_not_blank,
    help="GHL Private Integration token of the location.",
)
@click.option("--crm-url", required=True, callback=_http_url, help="Where write-backs are POSTed.")
@click.option(
    "--crm-secret",
    callback=_secret,
    help="whsec_ secret that signs write-backs (generated if omitted).",
)
@click.option("--crm-kind", type=click.Choice(KINDS), default="webhook", show_default=True)
@click.option(
    "--stats-interval",
    type=click.IntRange(min=300),
    default=None,
    help="Seconds between scheduled statistics syncs [default: STATS_INTERVAL_SECONDS].",
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
    with store_errors():
        try:
            connection = runtime.store.create_connection(
                name=name,
                location_id=location_id,
                ghl_token=ghl_token,
                crm_url=crm_url,
                crm_secret=crm_secret,
                crm_kind=crm_kind,
                stats_interval_seconds=stats_interval or runtime.settings.stats_interval_seconds,
            )
        except DuplicateName:
            raise click.ClickException(f"a connection named {name!r} exists already") from None
        except ValueError as exc:  # the store's own checks, e.g. a malformed secret
            raise click.ClickException(str(exc)) from None
    result = {
        "id": connection.id,
        "webhook_url": webhook_url(runtime, connection),
        "webhook_secret": connection.webhook_secrets[0],
    }
    if as_json:
        emit_json(result)
        return
    click.echo(f"created connection {connection.id} ({connection.name})")
    click.echo(f"  webhook URL:     {result['webhook_url']}")
    click.echo(f"  webhook secret:  {result['webhook_secret']}   (the CRM signs events with it)")
    click.echo(f"  CRM secret:      {connection.crm_secret}   (write-backs are signed with it)")
    click.echo(
        f"  statistics sync: every {connection.stats_interval_seconds} s "
        "(beat picks it up within a minute)"
    )


@group.command("list")
@json_option
@pass_runtime
def list_(runtime: Runtime, as_json: bool) -> None:
    """Every connection, without secrets."""
    with store_errors():
        connections = runtime.store.list_connections()
    if as_json:
        emit_json([public_view(runtime, c) for c in connections])
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
    with store_errors():
        record = runtime.connection(connection)
    view = public_view(runtime, record)
    if with_secrets:
        view.update(
            ghl_token=record.ghl_token,
            crm_secret=record.crm_secret,
            webhook_secrets=list(record.webhook_secrets),
        )
    if as_json:
        emit_json(view)
        return
    for key, value in view.items():
        click.echo(f"{key + ':':<24}{value}")


@group.command("check")
@click.argument("connection")
@pass_runtime
def check(runtime: Runtime, connection: str) -> None:
    """Call GHL with the connection's token and reach its CRM; exit 1 if either fails."""
    with store_errors():
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
@click.option("--name", callback=_not_blank)
@click.option(
    "--ghl-token",
    callback=_not_blank,
    help="A new Private Integration token.",
)
@click.option("--crm-url", callback=_http_url)
@click.option("--crm-secret", callback=_secret, help="A new whsec_ secret for write-backs.")
@click.option("--stats-interval", type=click.IntRange(min=300), help="Seconds between syncs.")
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
    given = {key: value for key, value in changes.items() if value is not None}
    if not given:
        raise click.UsageError(
            "give at least one of --name, --ghl-token, --crm-url, --crm-secret, --stats-interval"
        )
    with store_errors():
        record = runtime.connection(connection)
        try:
            updated = runtime.store.update_connection(
                record.id,
                name=name,
                ghl_token=ghl_token,
                crm_url=crm_url,
                crm_secret=crm_secret,
                stats_interval_seconds=stats_interval,
            )
        except DuplicateName:
            raise click.ClickException(f"a connection named {name!r} exists already") from None
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        emit_json(public_view(runtime, updated))
        return
    click.echo(f"updated {updated.id} ({updated.name}): {', '.join(sorted(given))}")
    if updated.status != "active":
        click.echo(
            f"it is still {updated.status}; un-park it with: "
            f"socialbridge connections activate {updated.name}"
        )


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
    """Add a new webhook secret; both verify until the old one is retired."""
    with store_errors():
        record = runtime.connection(connection)
        if retire:
            kept = runtime.store.retire_webhook_secrets(record.id, keep=1)
            if as_json:
                emit_json({"id": record.id, "webhook_secrets": len(kept)})
            else:
                click.echo(f"{record.id}: only the newest webhook secret verifies now")
            return
        secret = runtime.store.add_webhook_secret(record.id)
    if as_json:
        emit_json({"id": record.id, "webhook_secret": secret})
        return
    click.echo(f"new webhook secret of {record.id}: {secret}")
    click.echo(
        "give it to the CRM; the old one keeps working until: "
        f"socialbridge connections rotate-secret {record.name} --retire"
    )


@group.command("activate")
@click.argument("connection")
@pass_runtime
def activate(runtime: Runtime, connection: str) -> None:
    """Un-park a connection (after its credentials were fixed on the GHL or CRM side)."""
    with store_errors():
        record = runtime.connection(connection)
        if record.status == "active":
            click.echo(f"{record.id} ({record.name}) is active already")
            return
        runtime.store.activate_connection(record.id)
    click.echo(f"{record.id} ({record.name}) is active again (was parked: {record.status_reason})")
    click.echo("replay its dead events with: socialbridge events replay --dead")


@group.command("remove")
@click.argument("connection")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_runtime
def remove(runtime: Runtime, connection: str, yes: bool) -> None:
    """Delete a connection with its events, post records and snapshots."""
    with store_errors():
        record = runtime.connection(connection)
        if not yes:
            click.confirm(
                f"Delete {record.name} ({record.id}) with its event log and records?", abort=True
            )
        runtime.store.delete_connection(record.id)
    click.echo(f"removed {record.id} ({record.name}); its schedule stops within a minute")


def webhook_url(runtime: Runtime, connection: ConnectionRecord) -> str:
    return f"{runtime.settings.base_url}/webhooks/crm/{connection.id}"


def public_view(runtime: Runtime, connection: ConnectionRecord) -> dict[str, Any]:
    """A connection as users may see it: secrets left out."""
    view = dataclasses.asdict(connection)
    for secret in ("ghl_token", "crm_secret", "webhook_secrets"):
        view.pop(secret)
    view["webhook_url"] = webhook_url(runtime, connection)
    return view
