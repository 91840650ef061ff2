"""`socialbridge connections check`: every GHL call the flows make, then the CRM's own check.

One line per call, naming the scope a token lacks when GHL refuses one, and how to grant it;
a connection without a GHL token says how to give it one. The work is
`console.connections.check_connection`, which the console's check button runs too. Exit 1 on
any failure.
"""

from __future__ import annotations

import click

from cli import params
from cli.runtime import Runtime, pass_runtime
from console import connections


@click.command("check")
@click.argument("connection")
@click.option(
    "--post-id",
    callback=params.text("post_id", 100),
    help="A Social Planner post of the location to fetch [default: the newest GHL post its "
    "post.published events named; none: the post call is skipped].",
)
@pass_runtime
def check(runtime: Runtime, connection: str, post_id: str | None) -> None:
    """Make every GHL call the flows make and reach the CRM; exit 1 if anything fails.

    One line per call (accounts, tags, tag details, statistics both ways, a post), naming the
    scope the token lacks when GHL refuses one. For OAuth it first lists the granted scopes
    and those the flows need but lack. A connection without a token says how to give it one.
    """
    record = runtime.connection(connection)
    result = connections.check_connection(
        runtime.services, runtime.settings, record, post_id=post_id
    )
    for line in result.ghl:
        click.echo(str(line), err=line.failed)
    if result.scope_fix:
        click.echo(f"GHL  {result.scope_fix}", err=True)
    if result.crm_ok:
        click.echo(f"CRM  ok: {result.crm_detail}")
    else:
        click.echo(f"CRM  FAILED: {result.crm_detail}", err=True)
    if result.failures:
        raise SystemExit(1)
