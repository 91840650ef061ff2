"""`socialbridge connections check`: every GHL call the flows make, then the CRM's own check.

One line per call, naming the scope a token lacks when GHL refuses one, and how to grant it;
a connection without a GHL token says how to give it one (`cli.hints`). Exit 1 on any failure.
"""

from __future__ import annotations

import datetime as dt

import click

from cli import params
from cli.ghl_check import CheckLine, Outcome, check_calls, scope_lines
from cli.hints import reconnect_hint, status_words
from cli.runtime import Runtime, pass_runtime
from socialbridge import urls
from socialbridge.errors import IntegrationError
from store import ConnectionRecord, ConnectionStatus, GhlAuth

# How many of its post records `check` reads to find a GHL post to fetch.
RECENT_POSTS = 50


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
    lines = [*scope_lines(record), *_ghl_lines(runtime, record, post_id)]
    for line in lines:
        click.echo(str(line), err=line.failed)
    failures = sum(line.failed for line in lines)
    missing = list(dict.fromkeys(line.missing_scope for line in lines if line.missing_scope))
    if missing or any(line.failed and line.what == "scopes" for line in lines):
        click.echo(f"GHL  {_scope_fix(runtime, record)}", err=True)
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


def _ghl_lines(runtime: Runtime, record: ConnectionRecord, post_id: str | None) -> list[CheckLine]:
    if not record.has_ghl_token:
        detail = f"{record.name} has no GHL token ({status_words(record)}); "
        return [
            CheckLine(Outcome.FAILED, "token", detail + reconnect_hint(record, runtime.settings))
        ]
    lines: list[CheckLine] = []
    if record.status != ConnectionStatus.ACTIVE:
        lines.append(CheckLine(Outcome.INFO, "status", status_words(record)))
    location = record.location_id
    if post_id is None:
        post_id = next(
            (
                post.ghl_post_id
                for post in runtime.store.list_posts(record.id, limit=RECENT_POSTS)
                if post.ghl_post_id and post.location_id == location
            ),
            None,
        )
    today = dt.datetime.now(dt.UTC).date()
    try:
        with runtime.services.ghl_for(record) as ghl:
            lines.extend(check_calls(ghl, location, post_id=post_id, today=today))
    except (IntegrationError, ValueError) as exc:  # a client that cannot be built
        lines.append(CheckLine(Outcome.FAILED, "client", str(exc)))
    return lines


def _scope_fix(runtime: Runtime, record: ConnectionRecord) -> str:
    """How to give the connection the scopes it lacks."""
    if record.ghl_auth == GhlAuth.OAUTH:
        return (
            "grant the missing scopes by installing again (the app must ask for them): "
            + urls.install_url(runtime.settings, record.id)
        )
    return (
        "give the Private Integration token the missing scopes in GHL (Settings > Private "
        f"Integrations), or use a new one: socialbridge connections update {record.name} "
        "--ghl-token TOKEN"
    )
