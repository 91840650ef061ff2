"""`socialbridge connections update|rotate-secret`: changing a connection once it exists.

``update`` changes its name, credentials, CRM settings, mapping or schedule, checked as `add`
checks them; ``rotate-secret`` adds (or, with ``--retire``, retires) the webhook secrets or
inbound tokens the CRM authenticates its POSTs with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli import params
from cli.connection_add import refused_values
from cli.connection_view import view
from cli.connector_options import (
    check_crm_secret,
    checked_settings,
    crm_options,
    parse_settings,
    read_mapping,
)
from cli.mappings import COMMAND_LINE
from cli.render import (
    emit_connection,
    emit_json,
)
from cli.runtime import Runtime, json_option, pass_runtime
from console import connections
from console.hints import resume_hint
from crm.registry import connector_kind
from socialbridge import urls
from store import ConnectionStatus, GhlAuth


@click.command("update")
@click.argument("connection")
@click.option("--name", callback=params.connection_name, help="A new name (not con_…).")
@click.option("--ghl-token", callback=params.ghl_token, help="A new Private Integration token.")
@click.option("--crm-url", callback=params.http_url, help="A new URL for write-backs.")
@click.option(
    "--crm-secret",
    callback=params.webhook_secret,
    help="webhook CRM: a new whsec_ secret for write-backs (= --crm-setting secret=…).",
)
@crm_options
@click.option("--no-mapping", is_flag=True, help="Remove the connection's mapping.")
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
    crm_setting: tuple[str, ...],
    mapping_file: Path | None,
    no_mapping: bool,
    stats_interval: int | None,
    as_json: bool,
) -> None:
    """Change a connection's name, credentials, CRM settings, mapping or schedule.

    --crm-setting changes only the settings it names (an empty value removes one, where
    the kind allows it); the others stay, and the whole set is checked again.

    A new --ghl-token does not resume a parked or disconnected connection by itself: check
    it (`connections check`), then `connections activate` sends its waiting events again.
    An OAuth connection takes no --ghl-token: its tokens come from the install.
    """
    if mapping_file is not None and no_mapping:
        raise click.UsageError("give --mapping or --no-mapping, not both")
    record = runtime.connection(connection)
    if ghl_token is not None and record.ghl_auth == GhlAuth.OAUTH:
        raise click.BadParameter(
            "an OAuth connection gets its tokens from the install, at: "
            + urls.install_url(runtime.settings, record.id),
            param_hint="'--ghl-token'",
        )
    if crm_url is not None and not connector_kind(record.crm_kind).capabilities.needs_url:
        raise click.BadParameter(
            f"{record.crm_kind} connections have no URL: their settings say where results go",
            param_hint="'--crm-url'",
        )
    given = parse_settings(crm_setting)
    check_crm_secret(record.crm_kind, crm_secret, given)
    settings = None
    if given:
        # The whole set is validated again: a change may need or forbid another setting.
        settings = checked_settings(record.crm_kind, {**record.crm_settings, **given})
    mapping = read_mapping(mapping_file, record.crm_kind)
    changes = {
        "name": name,
        "ghl_token": ghl_token,
        "crm_url": crm_url,
        "crm_secret": crm_secret,
        "stats_interval_seconds": stats_interval,
    }
    changed = sorted(key for key, value in changes.items() if value is not None)
    if mapping is not None or no_mapping:
        changed = sorted([*changed, "mapping"])
    changed += [f"crm_settings.{key}" for key in sorted(given)]
    if not changed:
        raise click.UsageError(
            "give at least one of --name, --ghl-token, --crm-url, --crm-secret, "
            "--crm-setting, --mapping, --no-mapping, --stats-interval"
        )
    with refused_values(name):
        updated = connections.update_connection(
            runtime.store,
            record,
            name=name,
            ghl_token=ghl_token,
            crm_url=crm_url,
            crm_secret=crm_secret,
            crm_settings=settings,
            mapping=mapping,
            mapping_author=COMMAND_LINE,
            remove_mapping=no_mapping,
            stats_interval_seconds=stats_interval,
        )
    result = {"changed": changed, **view(runtime, updated)}
    if as_json:
        emit_json(result)
        return
    click.echo(f"updated {updated.id} ({updated.name}): {', '.join(changed)}")
    if updated.status != ConnectionStatus.ACTIVE:
        click.echo(f"it is still {updated.status}; {resume_hint(updated, runtime.settings)}")
    emit_connection(result)


@click.command("rotate-secret")
@click.argument("connection")
@click.option(
    "--retire",
    is_flag=True,
    help="Instead: keep only the newest secret (or token), once the CRM uses it.",
)
@json_option
@pass_runtime
def rotate_secret(runtime: Runtime, connection: str, retire: bool, as_json: bool) -> None:
    """Add a new webhook secret (or inbound token); both work until the old one is retired.

    Both forms, with --retire or without, print the connection, the newest secret or token
    (the one the CRM should use) and how many work now.
    """
    record = runtime.connection(connection)
    rotation = connections.rotate_secret(runtime.store, record, retire=retire)
    token_mode, active = rotation.token_mode, rotation.active
    what, key, accepted = (
        ("inbound token", "inbound_token", "is accepted")
        if token_mode
        else ("webhook secret", "webhook_secret", "verifies")
    )
    result: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        key: active[0],
        f"active_{'tokens' if token_mode else 'secrets'}": len(active),
    }
    if as_json:
        emit_json(result)
    elif retire:
        click.echo(
            f"{record.id} ({record.name}): only the newest {what} {accepted} now "
            f"({len(active)} active): {active[0]}"
        )
    else:
        click.echo(f"new {what} of {record.id} ({record.name}): {active[0]} ({len(active)} active)")
        click.echo(
            "give it to the CRM; the older ones keep working until: "
            f"socialbridge connections rotate-secret {record.name} --retire"
        )
