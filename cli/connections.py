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
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
from cli.ghl_check import CheckLine, Outcome, check_calls, scope_lines
from cli.hints import reconnect_hint, resume_hint, status_words
from cli.render import (
    NOTHING,
    connection_view,
    emit_connection,
    emit_json,
    emit_table,
    settings_view,
    settings_words,
)
from cli.runtime import Runtime, json_option, pass_runtime
from crm.registry import connector_kind
from socialbridge import urls
from socialbridge.errors import IntegrationError
from socialbridge.inbound_auth import InboundAuth
from store import ConnectionRecord, ConnectionStatus, DuplicateName, GhlAuth
from store.connections import WEBHOOK_KIND
from workers.release import activate_and_enqueue

# Why a connection is disconnected when a user did it (GHL's UNINSTALL gives its own reason).
DISCONNECT_REASON = "disconnected with `socialbridge connections disconnect`"
# How many of its post records `check` reads to find a GHL post to fetch.
RECENT_POSTS = 50


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
        connection = runtime.store.create_connection(
            name=name,
            location_id=location_id or "",
            ghl_token=ghl_token or "",
            ghl_auth=auth.value,
            crm_url=crm_url or "",
            crm_kind=crm_kind,
            crm_settings=settings,
            inbound_auth=mode,
            mapping=mapping,
            stats_interval_seconds=stats_interval,
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
    missing = [
        name
        for name, value in (
            ("GHL_CLIENT_ID", settings.ghl_client_id),
            ("GHL_CLIENT_SECRET", settings.ghl_client_secret),
        )
        if not value
    ]
    if missing:
        raise click.ClickException(
            f"configuration: {' and '.join(missing)} not set: --auth oauth installs your GHL "
            "marketplace app and needs its client id and secret (docs/ghl-auth.md)"
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


@group.command("show")
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


@group.command("check")
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


@group.command("update")
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
        updated = runtime.store.update_connection(
            record.id,
            name=name,
            ghl_token=ghl_token,
            crm_url=crm_url,
            crm_secret=crm_secret,
            crm_settings=settings,
            mapping=mapping,
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


@group.command("rotate-secret")
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
    token_mode = record.inbound_auth == InboundAuth.TOKEN
    what, key, accepted = (
        ("inbound token", "inbound_token", "is accepted")
        if token_mode
        else ("webhook secret", "webhook_secret", "verifies")
    )
    store = runtime.store
    active: tuple[str, ...]
    if retire:
        retire_ = store.retire_inbound_tokens if token_mode else store.retire_webhook_secrets
        active = retire_(record.id, keep=1)
    else:
        newest = (
            store.add_inbound_token(record.id)
            if token_mode
            else store.add_webhook_secret(record.id)
        )
        rotated = store.get_connection(record.id)
        if rotated is None:
            active = (newest,)
        else:
            active = rotated.inbound_tokens if token_mode else rotated.webhook_secrets
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


@group.command("activate")
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


@group.command("disconnect")
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


@group.command("remove")
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


def _location_words(connection: ConnectionRecord) -> str:
    if connection.location_id:
        return f"location {connection.location_id}"
    return "any location the installer chooses"
