"""`socialbridge connections add|list|show|check|update|rotate-secret|activate|disconnect|remove`.

A connection's GHL side is how it authorizes (``--auth``, fixed once added): ``pit``, a
Private Integration token the user pastes (``--ghl-token``) for one location, or ``oauth``,
the install of the GHL marketplace app (GHL_CLIENT_ID, GHL_CLIENT_SECRET): the connection is
created without a token and `add` prints the URL that starts the install; the tokens GHL
gives are stored encrypted, refreshed by the workers, and never printed. docs/ghl-auth.md
describes both.

A connection's CRM side is a kind (``--crm``, fixed once added), its URL and its settings
(``--crm-setting KEY=VALUE``, validated by the kind's schema; secret ones masked unless
``--secrets``), how the CRM authenticates its POSTs (``--inbound-auth``, fixed once added: a
connection accepts only that mode) and, optionally, a mapping (``--mapping FILE``). The
options and their refusals are `cli.connector_options`; docs/connectors.md describes them.

The commands live by what they do, and are registered here:

    cli.connection_add       add (and the GHL options' checks)
    cli.connection_view      list, show (and `view`, a connection as users may see it)
    cli.connection_update    update, rotate-secret
    cli.connection_check     check
    cli.connection_state     activate, disconnect, remove
"""

from __future__ import annotations

import click

from cli import (
    connection_add,
    connection_check,
    connection_state,
    connection_update,
    connection_view,
)


@click.group("connections")
def group() -> None:
    """CRM <-> GHL location connections."""


for command in (
    connection_add.add,
    connection_view.list_,
    connection_view.show,
    connection_check.check,
    connection_update.update,
    connection_update.rotate_secret,
    connection_state.activate,
    connection_state.disconnect,
    connection_state.remove,
):
    group.add_command(command)
