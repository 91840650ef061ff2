"""The connections pages: list, create and edit (any CRM kind), check, rotate, activate,
disconnect, delete, and send a test event.

Every view reads its form and calls `console.connections` or `console.demo_events`, as
`socialbridge connections …` and `demo send` do; nothing here decides anything. A viewer reads
the pages; every change (and the forms that only lead to one) needs an admin (403).

Secrets are write-only: a form never shows a stored secret, and a blank secret input keeps
the stored one. The webhook secret or inbound token the CRM needs is shown once, on the page
that answers the creation or the rotation that made it (never in a redirect's cookie).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from console import access, connections, demo_events
from console.connection_state import connection_state
from console.connections import DEFAULT_KIND, ConnectionRefused, NewConnection
from schemas.events import EVENT_TYPES
from socialbridge import urls
from socialbridge.inbound_auth import InboundAuth
from store import ConnectionRecord, GhlAuth
from webapp import context, webhooks
from webapp.auth import admin_required, signed_in_user

bp = Blueprint("connections", __name__)

SETTING_PREFIX = "setting."
# How many of a connection's latest events its page lists.
RECENT_EVENTS = 10


@bp.get("/connections")
def index() -> Any:
    return render_template(
        "connections/list.html",
        connections=context.services().store.list_connections(),
        may_change=access.may_change(signed_in_user()),
        state_of=connection_state,
    )


@bp.get("/connections/new")
@admin_required
def new() -> Any:
    kind = request.args.get("kind", DEFAULT_KIND)
    if kind not in connections.kind_titles():
        kind = DEFAULT_KIND
    return _form_page(kind, MultiDict())


@bp.post("/connections")
@admin_required
def create() -> Any:
    form = request.form
    kind = form.get("crm_kind", DEFAULT_KIND)
    try:
        interval = _interval(form.get("stats_interval_seconds", ""))
        record = connections.create_connection(
            context.services().store,
            context.settings(),
            NewConnection(
                name=form.get("name", "").strip(),
                crm_kind=kind,
                ghl_auth=form.get("ghl_auth", GhlAuth.PIT.value),
                location_id=form.get("location_id", "").strip(),
                ghl_token=form.get("ghl_token", "").strip(),
                crm_url=form.get("crm_url", "").strip(),
                crm_settings=_settings_of(form, blank_kept=False),
                inbound_auth=form.get("inbound_auth", ""),
                mapping=form.get("mapping") or None,
                mapping_author=signed_in_user().email,
                stats_interval_seconds=interval,
            ),
        )
    except ConnectionRefused as exc:
        if kind not in connections.kind_titles():
            abort(400, description=str(exc))
        return _form_page(kind, form, errors=exc.errors), 400
    return _detail_page(record, revealed=connections.newest_credential(record), created=True), 201


@bp.get("/connections/<connection_id>")
def show(connection_id: str) -> Any:
    return _detail_page(_connection(connection_id))


@bp.get("/connections/<connection_id>/edit")
@admin_required
def edit(connection_id: str) -> Any:
    record = _connection(connection_id)
    return _form_page(record.crm_kind, _form_of(record), record=record)


@bp.post("/connections/<connection_id>/edit")
@admin_required
def update(connection_id: str) -> Any:
    record = _connection(connection_id)
    form = request.form
    needs_url = connections.kind_info(record.crm_kind).needs_url
    try:
        name = form.get("name", "").strip()
        updated = connections.update_connection(
            context.services().store,
            record,
            name=name if name and name != record.name else None,
            ghl_token=form.get("ghl_token", "").strip() or None,
            crm_url=(form.get("crm_url", "").strip() or None) if needs_url else None,
            crm_settings=connections.merged_settings(record, _settings_of(form, blank_kept=True)),
            stats_interval_seconds=_interval(form.get("stats_interval_seconds", "")),
        )
    except ConnectionRefused as exc:
        return _form_page(record.crm_kind, form, record=record, errors=exc.errors), 400
    flash(f"Saved {updated.name}.")
    return redirect(url_for("connections.show", connection_id=updated.id), 303)


@bp.post("/connections/<connection_id>/check")
@admin_required
def check(connection_id: str) -> Any:
    record = _connection(connection_id)
    post_id = request.form.get("post_id", "").strip() or None
    result = connections.check_connection(
        context.services(), context.settings(), record, post_id=post_id
    )
    return _detail_page(record, check=result)


@bp.post("/connections/<connection_id>/rotate")
@admin_required
def rotate(connection_id: str) -> Any:
    record = _connection(connection_id)
    retire = request.form.get("retire") == "1"
    rotation = connections.rotate_secret(context.services().store, record, retire=retire)
    rotated = _connection(connection_id)
    if retire:
        flash(f"Only the newest {rotation.what} works now.")
        return redirect(url_for("connections.show", connection_id=record.id), 303)
    return _detail_page(rotated, revealed=(rotation.what, rotation.active[0]))


@bp.post("/connections/<connection_id>/activate")
@admin_required
def activate(connection_id: str) -> Any:
    record = _connection(connection_id)
    try:
        done = connections.activate(
            context.services().store, context.celery(), context.settings(), record
        )
    except ConnectionRefused as exc:
        return _detail_page(record, problem=exc.messages), 409
    if done is None:
        flash(f"{record.name} is active already.")
    else:
        flash(
            f"{record.name} is active again (was {done.was}); {done.released} waiting "
            "event(s) went back on the queue, in the order they came."
        )
    return redirect(url_for("connections.show", connection_id=record.id), 303)


@bp.post("/connections/<connection_id>/disconnect")
@admin_required
def disconnect(connection_id: str) -> Any:
    record = _connection(connection_id)
    reason = f"disconnected in the console by {signed_in_user().email}"
    if connections.disconnect(context.services().store, record, reason):
        flash(f"Disconnected {record.name}: its GHL tokens are deleted, its events wait.")
    else:
        flash(f"{record.name} is disconnected already.")
    return redirect(url_for("connections.show", connection_id=record.id), 303)


@bp.get("/connections/<connection_id>/delete")
@admin_required
def confirm_delete(connection_id: str) -> Any:
    return render_template("connections/delete.html", connection=_connection(connection_id))


@bp.post("/connections/<connection_id>/delete")
@admin_required
def delete(connection_id: str) -> Any:
    record = _connection(connection_id)
    if request.form.get("confirm_name", "").strip() != record.name:
        page = render_template(
            "connections/delete.html",
            connection=record,
            problem=f"Type the connection's name, {record.name}, to delete it.",
        )
        return page, 400
    connections.delete_connection(context.services().store, record.id)
    flash(f"Deleted {record.name} with its event log and records.")
    return redirect(url_for("connections.index"), 303)


@bp.post("/connections/<connection_id>/test-event")
@admin_required
def test_event(connection_id: str) -> Any:
    record = _connection(connection_id)
    event_type = request.form.get("event_type", "")
    if event_type not in EVENT_TYPES:
        return _detail_page(record, problem=f"event type: expected one of {EVENT_TYPES}"), 400
    tag_ids = tuple(tag for tag in request.form.get("tag_ids", "").replace(",", " ").split())
    try:
        delivery = demo_events.send_test_event(
            context.services(),
            record,
            event_type,
            deliver=webhooks.deliver_in_process,
            post_id=request.form.get("post_id", "").strip() or "crm-post-1",
            ghl_post_id=request.form.get("ghl_post_id", "").strip() or None,
            tag_ids=tag_ids,
        )
    except demo_events.DemoEventRefused as exc:
        return _detail_page(record, problem=str(exc)), 400
    return _detail_page(record, delivery=delivery), 200 if delivery.accepted else 400


# --- pages ----------------------------------------------------------------------------


def _detail_page(
    record: ConnectionRecord,
    *,
    revealed: tuple[str, str] | None = None,
    created: bool = False,
    check: connections.CheckResult | None = None,
    delivery: demo_events.Delivery | None = None,
    problem: str = "",
) -> str:
    settings = context.settings()
    entry = connections.kind_info(record.crm_kind)
    secret_settings = entry.secret_settings
    token_mode = record.inbound_auth == InboundAuth.TOKEN
    return render_template(
        "connections/show.html",
        connection=record,
        kind_title=entry.title,
        settings_shown={
            name: ("(set, write-only)" if name in secret_settings else value)
            for name, value in sorted(record.crm_settings.items())
        },
        state=connection_state(record),
        webhook_url=urls.webhook_url(settings, record.id),
        install_url=urls.install_url(settings, record.id)
        if record.ghl_auth == GhlAuth.OAUTH
        else None,
        token_mode=token_mode,
        credentials=len(record.inbound_tokens if token_mode else record.webhook_secrets),
        revealed=revealed,
        created=created,
        check=check,
        delivery=delivery,
        problem=problem,
        event_types=EVENT_TYPES,
        events=context.services().store.list_events(connection_id=record.id, limit=RECENT_EVENTS),
        may_change=access.may_change(signed_in_user()),
        connected=connections.is_connected(record),
    )


def _form_page(
    kind: str,
    form: MultiDict[str, str],
    *,
    record: ConnectionRecord | None = None,
    errors: dict[str, list[str]] | None = None,
) -> str:
    entry = connections.kind_info(kind)
    return render_template(
        "connections/form.html",
        kind=kind,
        kinds=connections.kind_titles(),
        entry=entry,
        fields=connections.settings_fields(kind),
        inbound_modes=entry.inbound_modes,
        form=form,
        record=record,
        errors=errors or {},
        known_fields=_known_fields(kind, record),
        setting_prefix=SETTING_PREFIX,
        oauth_configured=not context.settings().missing_ghl_app_settings(),
        default_interval=context.settings().stats_interval_seconds,
    )


def _known_fields(kind: str, record: ConnectionRecord | None) -> set[str]:
    """The fields the form shows a refusal beside; the others are listed above it."""
    shown = {"name", "stats_interval_seconds", "crm_url"}
    shown |= {f"crm_settings.{f.name}" for f in connections.settings_fields(kind)}
    if record is None:
        shown |= {"ghl_auth", "location_id", "ghl_token", "inbound_auth", "mapping"}
    elif record.ghl_auth == GhlAuth.PIT:
        shown.add("ghl_token")
    return shown


# --- reading forms ----------------------------------------------------------------------


def _connection(connection_id: str) -> ConnectionRecord:
    record = context.services().store.get_connection(connection_id)
    if record is None:
        abort(404, description=f"No connection {connection_id!a}.")
    return record


def _settings_of(form: MultiDict[str, str], *, blank_kept: bool) -> dict[str, str]:
    """The ``setting.<name>`` inputs; blanks dropped for a new connection (not given)."""
    found = {
        key.removeprefix(SETTING_PREFIX): value.strip()
        for key, value in form.items()
        if key.startswith(SETTING_PREFIX)
    }
    return found if blank_kept else {key: value for key, value in found.items() if value}


def _interval(text: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise ConnectionRefused.one("stats_interval_seconds", "Expected whole seconds.") from None


def _form_of(record: ConnectionRecord) -> MultiDict[str, str]:
    """An edit form's values: the connection's, never a secret."""
    secrets = connections.kind_info(record.crm_kind).secret_settings
    values = {
        "name": record.name,
        "crm_url": record.crm_url,
        "stats_interval_seconds": str(record.stats_interval_seconds),
    }
    for name, value in record.crm_settings.items():
        if name not in secrets:
            values[SETTING_PREFIX + name] = str(value)
    return MultiDict(values)
