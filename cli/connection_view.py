"""`socialbridge connections list|show`, and `view`: a connection as users may see it.

Secrets are shown only on request (``show --secrets``), an OAuth connection's GHL tokens never.
"""

from __future__ import annotations

from typing import Any

import click

from cli.render import (
    NOTHING,
    connection_view,
    emit_connection,
    emit_json,
    emit_table,
)
from cli.runtime import Runtime, json_option, pass_runtime
from socialbridge import urls
from store import ConnectionRecord, GhlAuth


@click.command("list")
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
            (
                c.id,
                c.name,
                c.location_id or NOTHING,
                c.ghl_auth,
                c.crm_kind,
                c.inbound_auth,
                c.status,
                c.stats_interval_seconds,
            )
            for c in connections
        ],
        ["ID", "NAME", "LOCATION", "GHL AUTH", "CRM", "INBOUND AUTH", "STATUS", "STATS EVERY (s)"],
    )


@click.command("show")
@click.argument("connection")
@click.option(
    "--secrets",
    "with_secrets",
    is_flag=True,
    help="Also print the decrypted secrets (never an OAuth connection's GHL tokens).",
)
@json_option
@pass_runtime
def show(runtime: Runtime, connection: str, with_secrets: bool, as_json: bool) -> None:
    """One connection (by id or name), with its GHL authorization (never a GHL token)."""
    shown = view(runtime, runtime.connection(connection), with_secrets=with_secrets)
    if as_json:
        emit_json(shown)
    else:
        emit_connection(shown)


def view(
    runtime: Runtime, connection: ConnectionRecord, *, with_secrets: bool = False
) -> dict[str, Any]:
    """A connection as users may see it (secrets only on request, GHL OAuth tokens never)."""
    install = (
        urls.install_url(runtime.settings, connection.id)
        if connection.ghl_auth == GhlAuth.OAUTH
        else None
    )
    return connection_view(
        connection,
        urls.webhook_url(runtime.settings, connection.id),
        install_url=install,
        with_secrets=with_secrets,
    )
