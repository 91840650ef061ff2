"""The console's results as JSON-ready dicts, for the JSON API (`/api/…`, webapp/api*.py).

Each function turns one service function's typed result into plain dicts and lists; datetimes
become ISO 8601 strings in UTC. A connection's answer carries only what its page shows: never
a GHL token, a webhook secret, an inbound token or a secret CRM setting (those are shown
"set" only). The one exception is `revealed_json`: the webhook secret or inbound token that a
creation or a rotation has just generated, in the answer to that request only, as the
console's page shows it once (the CRM needs it, and no other answer shows it).

`read_api_filter` reads the events API's query string the way `console.events.read_filter`
reads the page's, but a parameter it cannot use is refused (`ParameterError`, 400), not
ignored: a script should learn that its filter did not apply.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from console.analytics_params import ParameterError
from console.connection_state import connection_state
from console.connections import (
    Activation,
    CheckResult,
    Rotation,
    is_connected,
    kind_info,
)
from console.events import EventDetail, EventPage, FilterForm, read_cursor, read_filter
from console.mappings import Checked, CurrentMapping, problem_views
from console.overview import ConnectionOverview, Overview
from console.replay import Replayed
from socialbridge import urls
from socialbridge.config import Settings
from socialbridge.inbound_auth import InboundAuth
from store import (
    AttemptRecord,
    ConnectionRecord,
    CrmWriteRecord,
    EventRecord,
    GhlAuth,
    MappingVersionRecord,
    PostRecord,
)

# The page's time fields ("from", "to": a form's local date and time) are not read: the API
# takes ISO 8601 moments as "since" and "until".
TIME_PARAMETERS = frozenset({"since", "until", "from", "to"})
WRITE_ONLY_SHOWN = "(set, write-only)"


def iso(moment: dt.datetime | None) -> str | None:
    """``moment`` as ISO 8601 in UTC (a naive one is taken as UTC, as the store keeps it)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


# --- the overview ---------------------------------------------------------------------------


def overview_json(overview: Overview) -> dict[str, Any]:
    return {
        "at": iso(overview.at),
        "limiter_on": overview.limiter_on,
        "queue": {
            "depth": overview.queue.depth,
            "oldest_queued_age_seconds": overview.queue.oldest_queued_age,
        },
        "recent_totals": dict(overview.recent_totals),
        "connections": [_overview_row(row) for row in overview.connections],
    }


def _overview_row(row: ConnectionOverview) -> dict[str, Any]:
    headroom = row.headroom
    return {
        "id": row.id,
        "name": row.name,
        "location_id": row.location_id,
        "crm_kind": row.crm_kind,
        "state": str(row.state.state),
        "reason": row.state.reason,
        "needs_install": row.needs_install,
        "last_success": iso(row.last_success),
        "recent": dict(row.recent),
        "waiting": row.waiting,
        "headroom": None if headroom is None else dataclasses.asdict(headroom),
    }


# --- events ---------------------------------------------------------------------------------


def read_api_filter(args: Mapping[str, str], connections: list[ConnectionRecord]) -> FilterForm:
    """The events filter from the API's query string (connection, type, status, since, until,
    after); ParameterError naming the first parameter that cannot be used.

    ``since`` and ``until`` are ISO 8601 (with an offset, or UTC when they have none).
    """
    form = read_filter({k: v for k, v in args.items() if k not in TIME_PARAMETERS}, connections)
    for name in ("connection", "type", "status"):
        if name in form.problems:
            raise ParameterError(name, form.problems[name])
    after_text = (args.get("after") or "").strip()
    if after_text and read_cursor(after_text) is None:
        raise ParameterError("after", "not a cursor this API gave (its next_cursor)")
    since = _read_moment(args, "since")
    until = _read_moment(args, "until")
    where = dataclasses.replace(form.where, created_from=since, created_to=until)
    return dataclasses.replace(form, where=where)


def _read_moment(args: Mapping[str, str], name: str) -> dt.datetime | None:
    text = (args.get(name) or "").strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ParameterError(
            name, f"expected an ISO 8601 date and time (2026-01-31T12:00:00Z), not {text!r}"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def event_json(event: EventRecord, connection_name: str | None = None) -> dict[str, Any]:
    return {
        "id": event.id,
        "connection_id": event.connection_id,
        "connection_name": connection_name,
        "webhook_id": event.webhook_id,
        "source": event.source,
        "type": event.type,
        "status": event.status,
        "attempts": event.attempts,
        "replays": event.replays,
        "last_error": event.last_error,
        "error_kind": event.error_kind,
        "created_at": iso(event.created_at),
        "updated_at": iso(event.updated_at),
        "started_at": iso(event.started_at),
        "finished_at": iso(event.finished_at),
        "next_attempt_at": iso(event.next_attempt_at),
    }


def event_page_json(page: EventPage) -> dict[str, Any]:
    return {
        "events": [event_json(e, page.names.get(e.connection_id)) for e in page.events],
        "next_cursor": page.next_cursor,
    }


def event_detail_json(detail: EventDetail) -> dict[str, Any]:
    name = detail.connection.name if detail.connection is not None else None
    return {
        **event_json(detail.event, name),
        "payload": detail.event.payload,
        "replayable": detail.replayable,
        "retry_now": detail.retry_now,
        # Not "attempts": that is the listed event's count, kept as it was for programs.
        "attempt_history": [attempt_json(attempt) for attempt in detail.attempts],
        "writes": [_write_json(write) for write in detail.writes],
        "post": None if detail.post is None else _post_json(detail.post),
    }


def attempt_json(attempt: AttemptRecord) -> dict[str, Any]:
    took = attempt.took
    return {
        "number": attempt.number,
        "replay": attempt.replay,
        "task_id": attempt.task_id,
        "started_at": iso(attempt.started_at),
        "finished_at": iso(attempt.finished_at),
        "took_seconds": None if took is None else round(took.total_seconds(), 3),
        "outcome": attempt.outcome,
        "error_kind": attempt.error_kind,
        "error": attempt.error,
        "writeback": attempt.writeback,
    }


def _write_json(write: CrmWriteRecord) -> dict[str, Any]:
    return {
        "writeback_type": write.writeback_type,
        "contact": write.contact,
        "record": dict(write.record),
        "tags": list(write.tags),
        "status": write.status,
        "attempts": write.attempts,
        "created_at": iso(write.created_at),
        "sent_at": iso(write.sent_at),
    }


def _post_json(post: PostRecord) -> dict[str, Any]:
    return {
        "crm_post_id": post.crm_post_id,
        "ghl_post_id": post.ghl_post_id,
        "location_id": post.location_id,
        "title": post.title,
        "tags": post.tags,
        "tag_details": post.tag_details,
        "updated_at": iso(post.updated_at),
    }


# --- connections ----------------------------------------------------------------------------


def connection_summary_json(record: ConnectionRecord) -> dict[str, Any]:
    """What the connections list shows of one connection: no secret of any kind."""
    state = connection_state(record)
    return {
        "id": record.id,
        "name": record.name,
        "crm_kind": record.crm_kind,
        "location_id": record.location_id,
        "ghl_auth": str(record.ghl_auth),
        "status": str(record.status),
        "state": str(state.state),
        "reason": state.reason,
        "updated_at": iso(record.updated_at),
    }


def connection_json(record: ConnectionRecord, settings: Settings) -> dict[str, Any]:
    """What a connection's page shows: secret settings only as set, and how many webhook
    secrets or inbound tokens are accepted, never their values."""
    entry = kind_info(record.crm_kind)
    token_mode = record.inbound_auth == InboundAuth.TOKEN
    return {
        **connection_summary_json(record),
        "kind_title": entry.title,
        "crm_url": record.crm_url or None,
        "crm_settings": {
            name: WRITE_ONLY_SHOWN if name in entry.secret_settings else value
            for name, value in sorted(record.crm_settings.items())
        },
        "inbound_auth": str(record.inbound_auth),
        "credentials_accepted": len(
            record.inbound_tokens if token_mode else record.webhook_secrets
        ),
        "has_mapping": record.mapping is not None,
        "stats_interval_seconds": record.stats_interval_seconds,
        "connected": is_connected(record),
        "webhook_url": urls.webhook_url(settings, record.id),
        "install_url": urls.install_url(settings, record.id)
        if record.ghl_auth == GhlAuth.OAUTH
        else None,
        "scopes": list(record.scopes),
        "token_expires_at": iso(record.token_expires_at),
        "created_at": iso(record.created_at),
    }


def revealed_json(what: str, value: str) -> dict[str, Any]:
    """The credential a creation or rotation generated, for the CRM: in that answer only."""
    return {"what": what, "value": value}


def check_json(result: CheckResult) -> dict[str, Any]:
    """Both sides of a check (`console.connections.check_connection`)."""
    return {
        "ok": result.ok,
        "failures": result.failures,
        "ghl": [
            {
                "outcome": line.outcome.value.lower(),
                "what": line.what,
                "detail": line.detail,
                "missing_scope": line.missing_scope,
            }
            for line in result.ghl
        ],
        "crm": {"ok": result.crm_ok, "detail": result.crm_detail},
        "scope_fix": result.scope_fix,
    }


def rotation_json(rotation: Rotation) -> dict[str, Any]:
    """How many webhook secrets (or inbound tokens) work after a rotation: never their values
    (the new one goes in `revealed_json`)."""
    return {"what": rotation.what, "active": len(rotation.active)}


def activation_json(done: Activation | None) -> dict[str, Any]:
    """An activation: what the connection was, and how many waiting events were queued."""
    if done is None:
        return {"activated": False, "was": "active", "reason": None, "released": 0}
    return {
        "activated": True,
        "was": str(done.was),
        "reason": done.reason,
        "released": done.released,
    }


# --- replays --------------------------------------------------------------------------------


def replayed_json(done: Replayed) -> dict[str, Any]:
    return {
        "event_id": done.event_id,
        "type": done.type,
        "was": done.was,
        "status": done.status,
        "task_id": done.task_id,
    }


# --- mappings -------------------------------------------------------------------------------


def checked_json(checked: Checked) -> dict[str, Any]:
    """A mapping text checked: valid with what it maps, or its problems at their lines."""
    return {
        "valid": checked.valid,
        "problems": problem_views(checked.problems),
        "summary": checked.summary,
    }


def version_json(version: MappingVersionRecord, *, text: bool = False) -> dict[str, Any]:
    """One saved mapping version; its text only where asked (one version's answer)."""
    found: dict[str, Any] = {
        "number": version.number,
        "created_at": iso(version.created_at),
        "author": version.author,
        "restored_from": version.restored_from,
    }
    if text:
        found["text"] = version.text
    return found


def mapping_json(current: CurrentMapping, versions: list[MappingVersionRecord]) -> dict[str, Any]:
    """A connection's mapping as stored (checked again) and its history, newest first."""
    checked = current.checked
    return {
        "connection_id": current.connection.id,
        "text": current.text,
        **(
            checked_json(checked)
            if checked is not None
            else {"valid": None, "problems": [], "summary": None}
        ),
        # The newest version is the one in use, unless the mapping was removed since.
        "versions": [
            {**version_json(version), "current": index == 0 and version.text == current.text}
            for index, version in enumerate(versions)
        ],
    }
