"""`socialbridge connections add`: a new connection, checked whole before anything is stored.

The GHL options are checked against ``--auth`` first (pit needs ``--location-id`` and
``--ghl-token``; oauth takes no token and needs GHL_CLIENT_ID and GHL_CLIENT_SECRET), then the
CRM side as `cli.connector_options` checks it. `refused_values` turns the store's refusals of
a connection's values into one-line errors, for `update` too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from cli import params
from cli.connector_options import (
    WEBHOOK_SECRET_SETTING,
    check_crm_secret,
    checked_settings,
    crm_options,
    inbound_auth_option,
    inbound_mode,
    kind_option,
    parse_settings,
    read_mapping,
)
from cli.mappings import COMMAND_LINE
from cli.render import (
    emit_json,
    settings_view,
    settings_words,
)
from cli.runtime import Runtime, json_option, pass_runtime
from console import connections
from crm.registry import connector_kind
from socialbridge import urls
from socialbridge.inbound_auth import InboundAuth
from store import ConnectionRecord, DuplicateName, GhlAuth
from store.connections import WEBHOOK_KIND


@contextlib.contextmanager
def refused_values(name: str | None) -> Iterator[None]:
    """The store's refusals of a connection's values as one-line errors (they name the field)."""
    try:
        yield
    except DuplicateName:
        raise click.ClickException(f"a connection named {name!r} exists already") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("add")
@click.option(
    "--name",
    required=True,
    callback=params.connection_name,
    help="Unique name, e.g. the agency; not starting with con_ (that is how ids start).",
)
@click.option(
    "--auth",
    "ghl_auth",
    type=click.Choice([mode.value for mode in GhlAuth]),
    default=GhlAuth.PIT.value,
    show_default=True,
    help="How it authorizes with GHL: pit (a Private Integration token, --ghl-token) or oauth "
    "(an install of your GHL marketplace app: prints the URL that starts it; "
    "docs/ghl-auth.md).",
)
@click.option(
    "--location-id",
    callback=params.location_id,
    help="GHL location (sub-account) id; required with --auth pit. With --auth oauth, only "
    "an install for this location is accepted [default: the one the installer chooses].",
)
@click.option(
    "--ghl-token",
    callback=params.ghl_token,
    help="GHL Private Integration token of the location (--auth pit only).",
)
@kind_option
@click.option(
    "--crm-url",
    callback=params.http_url,
    help="Where write-backs go (the webhook URL, SmartOffice's XML Engine URL).",
)
@click.option(
    "--crm-secret",
    callback=params.webhook_secret,
    help="webhook CRM: whsec_ secret that signs write-backs (generated if omitted); "
    "the same as --crm-setting secret=….",
)
@crm_options
@inbound_auth_option
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
    ghl_auth: str,
    location_id: str | None,
    ghl_token: str | None,
    crm_kind: str,
    crm_url: str | None,
    crm_secret: str | None,
    crm_setting: tuple[str, ...],
    mapping_file: Path | None,
    inbound_auth: str | None,
    stats_interval: int | None,
    as_json: bool,
) -> None:
    """Create a connection; print its webhook URL and what the CRM authenticates with.

    With --auth oauth it also prints the install URL: opening it, choosing the location and
    approving gives the connection its tokens. Until then it is needs_reauth, and events the
    CRM sends wait for the install.
    """
    auth = GhlAuth(ghl_auth)
    check_ghl_options(auth, location_id, ghl_token)
    entry = connector_kind(crm_kind)
    if entry.capabilities.needs_url and crm_url is None:
        raise click.UsageError(f"a {crm_kind} CRM needs --crm-url")
    if not entry.capabilities.needs_url and crm_url is not None:
        raise click.BadParameter(
            f"{crm_kind} connections have no URL: their settings say where results go",
            param_hint="'--crm-url'",
        )
    # The options first (usage errors), then the settings as a whole, then the file.
    mode = inbound_mode(crm_kind, inbound_auth)
    given: dict[str, Any] = parse_settings(crm_setting)
    check_crm_secret(crm_kind, crm_secret, given)
    if crm_secret is not None:
        given[WEBHOOK_SECRET_SETTING] = crm_secret
    settings = checked_settings(crm_kind, given, generate=True)
    mapping = read_mapping(mapping_file, crm_kind)
    if auth is GhlAuth.OAUTH:
        check_oauth_settings(runtime)
    if stats_interval is None:
        stats_interval = runtime.settings.stats_interval_seconds
    with refused_values(name):
        # Everything was checked above to name the option; the console checks it all again.
        connection = connections.create_connection(
            runtime.store,
            runtime.settings,
            connections.NewConnection(
                name=name,
                location_id=location_id or "",
                ghl_token=ghl_token or "",
                ghl_auth=auth.value,
                crm_url=crm_url or "",
                crm_kind=crm_kind,
                crm_settings=settings,
                inbound_auth=mode.value,
                mapping=mapping,
                mapping_author=COMMAND_LINE,
                stats_interval_seconds=stats_interval,
            ),
        )
    result: dict[str, Any] = {
        "id": connection.id,
        "name": connection.name,
        "auth": connection.ghl_auth,
        "location_id": connection.location_id or None,
        "status": connection.status,
        "crm_kind": connection.crm_kind,
        "inbound_auth": connection.inbound_auth,
        "webhook_url": urls.webhook_url(runtime.settings, connection.id),
    }
    if auth is GhlAuth.OAUTH:
        result["install_url"] = urls.install_url(runtime.settings, connection.id)
    if mode is InboundAuth.TOKEN:
        result["inbound_token"] = connection.inbound_token
    else:
        result["webhook_secret"] = connection.webhook_secrets[0]
    if crm_kind == WEBHOOK_KIND:
        result["crm_secret"] = connection.crm_secret
    result["crm_settings"] = settings_view(crm_kind, connection.crm_settings)
    result["mapping"] = mapping is not None
    result["stats_interval_seconds"] = connection.stats_interval_seconds
    if as_json:
        emit_json(result)
        return
    click.echo(f"created connection {connection.id} ({connection.name}): {entry.title}")
    if auth is GhlAuth.OAUTH:
        chosen = connection.location_id or "the location"
        click.echo(f"  GHL:             OAuth, {_location_words(connection)}; not installed yet")
        click.echo(f"  install URL:     {result['install_url']}")
        click.echo(f"                   (open it, choose {chosen} and approve)")
    click.echo(f"  webhook URL:     {result['webhook_url']}")
    if mode is InboundAuth.TOKEN:
        click.echo(
            f"  inbound token:   {result['inbound_token']}   "
            "(the CRM sends it as 'Authorization: Bearer <token>')"
        )
    else:
        click.echo(
            f"  webhook secret:  {result['webhook_secret']}   (the CRM signs events with it)"
        )
    if crm_kind == WEBHOOK_KIND:
        # Its one setting is this secret, shown in full here, so no masked copy beside it.
        click.echo(f"  CRM secret:      {result['crm_secret']}   (write-backs are signed with it)")
    elif result["crm_settings"]:
        click.echo(f"  CRM settings:    {settings_words(result['crm_settings'])}")
    if mapping is not None:
        click.echo(f"  mapping:         {mapping_file} (see: socialbridge mappings show {name})")
    click.echo(
        f"  statistics sync: every {connection.stats_interval_seconds} s "
        "(beat picks it up within a minute)"
    )
    if auth is GhlAuth.OAUTH:
        click.echo("events the CRM sends before the install completes wait, and run once it does")
        click.echo(
            f"once installed, check both sides with: socialbridge connections check "
            f"{connection.name}"
        )
        return
    click.echo(f"check both sides with: socialbridge connections check {connection.name}")


def check_ghl_options(auth: GhlAuth, location_id: str | None, ghl_token: str | None) -> None:
    """Refuse the GHL options that do not fit ``auth`` (usage errors, naming the option)."""
    if auth is GhlAuth.OAUTH:
        if ghl_token is not None:
            raise click.BadParameter(
                "an OAuth connection gets its tokens from the install (add prints its URL); "
                "leave it out, or use --auth pit",
                param_hint="'--ghl-token'",
            )
        return
    if location_id is None:
        raise click.MissingParameter(
            "A Private Integration token belongs to one location (or use --auth oauth).",
            param_hint="'--location-id'",
            param_type="option",
        )
    if ghl_token is None:
        raise click.MissingParameter(
            "Give the location's Private Integration token (or use --auth oauth).",
            param_hint="'--ghl-token'",
            param_type="option",
        )


def check_oauth_settings(runtime: Runtime) -> None:
    """Refuse an OAuth connection when the app's client id or secret is not configured."""
    settings = runtime.settings
    missing = settings.missing_ghl_app_settings()
    if missing:
        raise click.ClickException(
            f"configuration: {' and '.join(missing)} not set: --auth oauth installs your GHL "
            "marketplace app and needs its client id and secret (docs/ghl-auth.md)"
        )


def _location_words(connection: ConnectionRecord) -> str:
    if connection.location_id:
        return f"location {connection.location_id}"
    return "any location the installer chooses"
