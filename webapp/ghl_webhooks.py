"""`POST /webhooks/ghl`: HighLevel's app webhooks (INSTALL, UNINSTALL), verified and queued.

Answers (JSON, like the CRM receiver's):
    200 {"status": "accepted"}   verified, on the queue (workers/app_webhooks.py does the work)
    200 {"status": "duplicate"}  this webhookId came before; nothing is done again
    200 {"status": "ignored"}    verified, of a type socialbridge does not act on; recorded
    400 the body could not be read, or is not JSON we accept
    401 no usable signature, a bad one, or a timestamp more than 5 minutes from now
    413 body over WEBHOOK_MAX_BYTES
    422 {"errors": {"locationId": ["…"]}}  the payload does not fit GHL's event
    429 the event could not be recorded or queued: nothing was accepted, GHL sends it again

Why 429 and not 503: HighLevel retries an app webhook only when the answer is 429 (six times,
ten minutes apart); any other status, 5xx included, is final and the event would be lost. A
`Retry-After` says how long we expect to need. Why 200 and not 202: GHL's guide asks for 200.

Verification is `ghl.app_webhooks.verify_app_webhook`: Ed25519 `x-ghl-signature` with
GHL_WEBHOOK_PUBLIC_KEY (GHL's published key when empty), the legacy RSA `x-wh-signature` only
when GHL_WEBHOOK_RSA_PUBLIC_KEY is set and no Ed25519 signature came. Both keys are read once,
when the app is built, so a process given a key it cannot use stops at start.

The event goes on the queue first and is recorded after: an enqueue that fails leaves nothing
recorded, so GHL's retry is a first delivery and not a duplicate. Should recording fail after
the enqueue, the task records the event itself (workers/app_webhooks.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request

from ghl.app_webhooks import AppWebhookRejected, configured_public_keys, verify_app_webhook
from schemas.ghl_app import APP_EVENT_TYPES, AppWebhookEvent
from socialbridge.config import Settings
from socialbridge.logs import bind, get_logger
from socialbridge.urls import GHL_APP_WEBHOOK_PATH
from store import StoreUnavailable
from store.connections import LOCATION_ID_MAX_LENGTH, check_text
from webapp import context
from webapp.body import read_body
from webapp.errors import error_body
from workers.app_webhooks import enqueue_app_webhook, record_app_webhook
from workers.dispatch import EnqueueError

log = get_logger(__name__)
bp = Blueprint("ghl_webhooks", __name__)

KEYS_EXTENSION = "ghl_app_webhook_keys"
# What GHL is told to wait before its next try; it keeps its own schedule (10 minutes).
RETRY_AFTER_SECONDS = 600
# The app event log keys webhooks by a 255-character column (store/models.py).
MAX_WEBHOOK_ID = 255
# A webhookId is GHL's opaque id; kept whole in the store, cut to this much in log lines.
_SHOWN_ID_CHARS = 100

_REJECTION_CODES = {400: "bad_request", 401: "invalid_signature", 422: "invalid_payload"}


def init_app(app: Flask, settings: Settings) -> None:
    """Register the receiver; ConfigError naming the setting when a public key is unusable."""
    app.extensions[KEYS_EXTENSION] = configured_public_keys(settings)
    app.register_blueprint(bp)


@bp.post(GHL_APP_WEBHOOK_PATH)
def receive() -> Any:
    raw = read_body(request, context.settings().webhook_max_bytes)
    ed25519_pem, rsa_pem = current_app.extensions[KEYS_EXTENSION]
    try:
        event = verify_app_webhook(
            raw,
            dict(request.headers),
            ed25519_pem=ed25519_pem,
            rsa_pem=rsa_pem,
            now=dt.datetime.now(dt.UTC),
        )
    except AppWebhookRejected as exc:
        log.info("ghl_app.rejected", status=exc.status, reason=exc.reason)
        body = error_body(_REJECTION_CODES.get(exc.status, "rejected"), exc.reason)
        if exc.errors:
            body["errors"] = exc.errors
        return jsonify(body), exc.status

    unstorable = _unstorable(event)
    if unstorable:
        named = "; ".join(f"{path}: {' '.join(texts)}" for path, texts in unstorable.items())
        reason = f"invalid payload: {named}"
        log.info("ghl_app.rejected", status=422, reason=reason)
        return jsonify({**error_body("invalid_payload", reason), "errors": unstorable}), 422

    shown_id = f"{event.webhook_id[:_SHOWN_ID_CHARS]!a}"
    with bind(webhook_id=shown_id, app_event=event.type):
        try:
            return _accept(event)
        except StoreUnavailable as exc:
            log.error("ghl_app.store_unavailable", error=str(exc))
            return _retry_later("The event store is unavailable")


def _unstorable(event: AppWebhookEvent) -> dict[str, list[str]]:
    """GHL's field: why its id cannot be kept in the app event log (none: an empty dict).

    The schema took them (no NUL, at most 200 characters); the log's columns are narrower
    and, like every text of the store, take no control characters. Checked before anything
    is queued, so that nothing is accepted that could not be recorded.
    """
    errors: dict[str, list[str]] = {}
    for name, value, limit in (
        ("webhookId", event.webhook_id, MAX_WEBHOOK_ID),
        ("locationId", event.location_id, LOCATION_ID_MAX_LENGTH),
        ("companyId", event.company_id, LOCATION_ID_MAX_LENGTH),
    ):
        if value is None:
            continue
        try:
            check_text(name, value, max_length=limit)
        except ValueError as exc:
            errors[name] = [str(exc).removeprefix(f"{name}: ")]
    return errors


def _accept(event: AppWebhookEvent) -> Any:
    store = context.services().store
    if store.get_app_event(event.webhook_id) is not None:
        log.info("ghl_app.duplicate")
        return jsonify({"status": "duplicate"}), 200

    if not event.handled:
        _, created = record_app_webhook(store, event)
        if created:
            store.finish_app_event(
                event.webhook_id,
                f"ignored: socialbridge acts on {' and '.join(APP_EVENT_TYPES)} only",
            )
        log.info("ghl_app.ignored", recorded=created)
        return jsonify({"status": "ignored" if created else "duplicate"}), 200

    try:
        task_id = enqueue_app_webhook(context.celery(), event)
    except EnqueueError as exc:
        log.error("ghl_app.enqueue_failed", error=str(exc))
        return _retry_later("The queue is unavailable")
    # A delivery that raced this one may have recorded it first: both are queued, and the
    # task does the work once (workers/app_webhooks.py).
    record_app_webhook(store, event)
    log.info(
        "ghl_app.accepted",
        task_id=task_id,
        location_id=event.location_id,
        company_id=event.company_id,
    )
    return jsonify({"status": "accepted"}), 200


def _retry_later(what: str) -> Any:
    message = f"{what}; nothing was accepted. Send it again later."
    response = jsonify(error_body("unavailable", message))
    response.status_code = 429
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
