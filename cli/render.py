"""What the commands print, in one place.

Each kind of result is first turned into a *view*: a dict of JSON values (ISO-8601 timestamps
with ``T``, numbers as they are, lists for tuples). ``--json`` prints the view as it is;
the plain form prints the same view in words. So both forms of a command carry the same
fields, and no Python repr (``None``, ``{'a': …}``) reaches a terminal.

The fields of ``event_view`` are documented in docs/operations.md ("Event fields") and kept
stable: programs read them.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import click

from crm.registry import connector_kind
from socialbridge.inbound_auth import InboundAuth
from store import ConnectionRecord, EventRecord, GhlAuth, SnapshotRecord

# How a field with no value reads in plain output.
NOTHING = "-"


def json_value(value: Any) -> Any:
    """``value`` as plain JSON data: what both forms of every command print.

    Timestamps and dates become ISO-8601 text (``2026-12-01T10:00:00+00:00``); numbers stay
    as they are (counts are ints from GHL to the store); NaN and infinities, which JSON cannot
    hold, become null.
    """
    if value is None or isinstance(value, bool | int | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return value
    if isinstance(value, dt.date):  # datetimes too: a datetime is a date
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    raise TypeError(f"no JSON form for {type(value).__name__}")


def words(value: Any) -> str:
    """One value for people: ``-`` for nothing, a list of plain values joined by commas,
    structures as compact JSON, everything else as its JSON value's text."""
    value = json_value(value)
    if value is None or value == [] or value == {}:
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and not any(isinstance(item, list | dict) for item in value):
        return ", ".join(words(item) for item in value)
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def emit_json(value: Any) -> None:
    """``value`` as indented JSON (non-ASCII escaped, so any terminal can show it)."""
    click.echo(json.dumps(json_value(value), indent=2, allow_nan=False))


def emit_fields(view: Mapping[str, Any], *, indent: str = "") -> None:
    """A view as ``name: value`` lines, the values aligned."""
    if not view:
        return
    width = max(len(name) for name in view) + 2
    for name, value in view.items():
        click.echo(f"{indent}{name + ':':<{width}}{words(value)}".rstrip())


def emit_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], *, indent: str = "") -> None:
    """Aligned columns for people; --json is the form for programs."""
    if not rows:
        click.echo(f"{indent}(none)")
        return
    cells = [[str(h) for h in headers], *[["" if v is None else words(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        line = "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True))
        line = indent + line.rstrip()
        click.echo(click.style(line, bold=True) if index == 0 else line)


def short(text: str | None, width: int = 60) -> str:
    """``text`` cut to ``width`` characters with an ellipsis, for a table cell."""
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def table_time(moment: dt.datetime | None) -> str:
    """A timestamp for a table cell (the header says UTC)."""
    return "" if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- events ----------------------------------------------------------------------------------


def event_view(event: EventRecord) -> dict[str, Any]:
    """An event as `events list|show` print it. Documented field by field: keep it stable."""
    view: dict[str, Any] = json_value(
        {
            "id": event.id,
            "connection_id": event.connection_id,
            "type": event.type,
            "source": event.source,
            "status": event.status,
            "attempts": event.attempts,
            "replays": event.replays,
            "error_kind": event.error_kind,
            "last_error": event.last_error,
            "webhook_id": event.webhook_id,
            "task_id": event.task_id,
            "payload": event.payload,
            "created_at": event.created_at,
            "updated_at": event.updated_at,
            "started_at": event.started_at,
            "next_attempt_at": event.next_attempt_at,
            "finished_at": event.finished_at,
        }
    )
    return view


# --- connections -----------------------------------------------------------------------------


def connection_view(
    connection: ConnectionRecord,
    webhook_url: str,
    *,
    install_url: str | None = None,
    with_secrets: bool = False,
) -> dict[str, Any]:
    """A connection as `connections list|show|update` print it; secrets only on request.

    The GHL side: ``auth`` (pit or oauth), the granted ``scopes``, when the access token
    expires and was last refreshed, the agency (``company_id``) and, for OAuth, the
    ``install_url`` that (re-)authorizes it. A location not chosen yet (an OAuth connection
    that any location may install) is null.

    GHL tokens: ``with_secrets`` adds a Private Integration token (``ghl_token``), which the
    user pasted and may need to read back. An OAuth connection's tokens are never shown, not
    even then: the access token is replaced within a day, and the refresh token is single-use
    at GHL, so a copy used anywhere else would spend it and cut the connection off.
    """
    oauth = connection.ghl_auth == GhlAuth.OAUTH
    view: dict[str, Any] = {
        "id": connection.id,
        "name": connection.name,
        "location_id": connection.location_id or None,
        "auth": connection.ghl_auth,
        "crm_kind": connection.crm_kind,
        "crm_url": connection.crm_url,
        "crm_settings": settings_view(
            connection.crm_kind, connection.crm_settings, with_secrets=with_secrets
        ),
        "inbound_auth": connection.inbound_auth,
        # Whether it has one; `mappings show` prints the text.
        "mapping": connection.mapping is not None,
        "webhook_url": webhook_url,
        "stats_interval_seconds": connection.stats_interval_seconds,
        "status": connection.status,
        "status_reason": connection.status_reason,
        "scopes": list(connection.scopes),
        "token_expires_at": connection.token_expires_at,
        "last_refresh_at": connection.last_refresh_at,
        "company_id": connection.company_id,
        "created_at": connection.created_at,
        "updated_at": connection.updated_at,
    }
    if oauth:
        view["install_url"] = install_url
    if with_secrets:
        if not oauth:
            view["ghl_token"] = connection.ghl_token
        if connection.crm_kind == "webhook":
            view["crm_secret"] = connection.crm_secret
        if connection.inbound_auth == InboundAuth.TOKEN:
            view["inbound_token"] = connection.inbound_token
            view["inbound_tokens"] = connection.inbound_tokens
        else:
            view["webhook_secrets"] = connection.webhook_secrets
    result: dict[str, Any] = json_value(view)
    return result


def emit_connection(view: Mapping[str, Any]) -> None:
    """A connection view (or one with more fields) in words: `emit_fields`, with the CRM
    settings as ``name=value`` pairs rather than JSON."""
    shown = dict(view)
    if "crm_settings" in shown:
        shown["crm_settings"] = settings_words(shown["crm_settings"])
    emit_fields(shown)


SECRET_MASK = "***"  # noqa: S105 - what a masked secret looks like


def settings_view(
    kind: str, settings: Mapping[str, Any], *, with_secrets: bool = False
) -> dict[str, Any]:
    """A connector's settings with its secret ones masked (unless ``with_secrets``)."""
    try:
        secret = connector_kind(kind).secret_settings
    except ValueError:  # a kind this version does not know: mask everything
        secret = frozenset(settings)
    return {
        name: value if with_secrets or name not in secret else SECRET_MASK
        for name, value in sorted(settings.items())
    }


def settings_words(settings: Mapping[str, Any]) -> str:
    """Connector settings for people: ``auth=direct, office=demo, password=***``.

    A value that would make the pairs ambiguous (a comma, an ``=``, a quote, spaces at
    either end, nothing at all) is shown as a JSON string, so every pair can be read back.
    """
    if not settings:
        return NOTHING
    return ", ".join(f"{name}={_setting_word(value)}" for name, value in settings.items())


def _setting_word(value: Any) -> str:
    if not isinstance(value, str):
        return words(value)
    plain = bool(value) and value == value.strip() and not any(c in value for c in ',="\\')
    return value if plain and value.isprintable() else json.dumps(value)


# --- statistics ------------------------------------------------------------------------------


def snapshot_view(snapshot: SnapshotRecord) -> dict[str, Any]:
    """A statistics snapshot: totals, per platform, per day (in the order of ``day_range``)."""
    view: dict[str, Any] = json_value(
        {
            "id": snapshot.id,
            "connection_id": snapshot.connection_id,
            "location_id": snapshot.location_id,
            "start_date": snapshot.start_date,
            "end_date": snapshot.end_date,
            "profile_ids": snapshot.profile_ids,
            "totals": snapshot.totals,
            "platforms": snapshot.platforms,
            "day_range": snapshot.day_range,
            "daily": snapshot.daily,
            "created_at": snapshot.created_at,
        }
    )
    return view


def emit_snapshot(view: Mapping[str, Any], *, indent: str = "") -> None:
    """A snapshot view in words: its fields, then its numbers as two tables."""
    tables = ("totals", "platforms", "day_range", "daily")
    emit_fields({name: value for name, value in view.items() if name not in tables}, indent=indent)
    totals: Mapping[str, Any] = view["totals"]
    platforms: Mapping[str, Mapping[str, Any]] = view["platforms"]
    names = sorted(platforms)
    metrics = sorted({*totals, *(metric for values in platforms.values() for metric in values)})
    click.echo(f"{indent}totals:")
    emit_table(
        [
            [metric, totals.get(metric), *(platforms[p].get(metric) for p in names)]
            for metric in metrics
        ],
        ["METRIC", "TOTAL", *(name.upper() for name in names)],
        indent=indent + "  ",
    )
    daily: Mapping[str, Sequence[Any]] = view["daily"]
    series = sorted(daily)
    click.echo(f"{indent}daily:")
    emit_table(
        [
            [day, *(_at(daily[name], index) for name in series)]
            for index, day in enumerate(view["day_range"])
        ],
        ["DAY", *(name.upper() for name in series)],
        indent=indent + "  ",
    )


def _at(values: Sequence[Any], index: int) -> Any:
    return values[index] if index < len(values) else None
