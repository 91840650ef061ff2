"""`POST /webhooks/crm/<connection_id>`: authenticate, parse, validate, record, enqueue, answer.

Answers (the public contract, docs/webhooks.md):
    202 {"event_id", "status": "queued"}     recorded and enqueued
    200 {"event_id", "status": "duplicate"}  this webhook-id was accepted before; nothing runs
    401 bad, missing or stale signature      404 unknown connection
    413 body over WEBHOOK_MAX_BYTES          422 {"errors": {"data.post_id": ["…"]}}
    503 could not record or enqueue: nothing was accepted, the CRM should retry
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, jsonify, request
from marshmallow import ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from schemas.events import dump_event, flatten_errors, load_event
from socialbridge.logs import bind, get_logger
from store import ConnectionRecord
from webapp import context
from webapp.errors import error_body
from workers.dispatch import EnqueueError, enqueue_event

log = get_logger(__name__)
bp = Blueprint("webhooks", __name__)

# The event log keeps webhook-ids in a 255-character column; Standard Webhooks ids are short.
MAX_WEBHOOK_ID = 255


@bp.post("/webhooks/crm/<connection_id>")
def receive(connection_id: str) -> Any:
    store = context.services().store
    connection = store.get_connection(connection_id)
    if connection is None:
        log.info("webhook.rejected", reason="unknown connection", connection_id=connection_id)
        return jsonify(error_body("not_found", f"No connection {connection_id!r}.")), 404

    body = request.get_data(cache=False)
    webhook_id = request.headers.get("webhook-id", "")
    with bind(connection_id=connection.id, webhook_id=webhook_id):
        failure = _verify(connection, body, dict(request.headers))
        if failure is not None:
            log.info("webhook.rejected", reason=failure)
            return jsonify(error_body("invalid_signature", failure)), 401

        try:
            event = load_event(json.loads(body))
        except ValidationError as exc:
            return _invalid(flatten_errors(exc.messages))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
            return _invalid({"_body": [f"Body is not valid JSON: {exc}"]})

        requested = getattr(event.data, "location_id", None)
        if requested is not None and requested != connection.location_id:
            errors = {
                "data.location_id": [
                    f"This connection serves location {connection.location_id!r}, "
                    f"not {requested!r}."
                ]
            }
            return _invalid(errors)

        record, created = store.record_event(
            connection_id=connection.id,
            type=event.type,
            payload=dump_event(event),
            webhook_id=webhook_id,
        )
        if not created:
            log.info("webhook.duplicate", event_id=record.id)
            return jsonify({"event_id": record.id, "status": "duplicate"}), 200

        try:
            task_id = enqueue_event(context.celery(), record)
        except EnqueueError as exc:
            # Nothing half-accepted: forget the event so the CRM's retry is a first delivery.
            store.discard_event(record.id)
            log.error("webhook.enqueue_failed", event_id=record.id, error=str(exc))
            return jsonify(error_body("unavailable", "The queue is unavailable; retry later.")), 503
        log.info("webhook.accepted", event_id=record.id, event_type=event.type, task_id=task_id)
        return jsonify({"event_id": record.id, "status": "queued"}), 202


def _invalid(errors: dict[str, list[str]]) -> tuple[Any, int]:
    log.info("webhook.rejected", reason="invalid body", errors=errors)
    return jsonify({"errors": errors}), 422


def _verify(connection: ConnectionRecord, body: bytes, headers: dict[str, str]) -> str | None:
    """None when one of the connection's active secrets signed the body; else why not."""
    lowered = {key.lower(): value for key, value in headers.items()}
    missing = [
        h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if h not in lowered
    ]
    if missing:
        return f"Missing header(s): {', '.join(missing)}."
    if not lowered["webhook-timestamp"].strip().isdigit():
        return "webhook-timestamp must be whole seconds since the Unix epoch."
    if len(lowered["webhook-id"]) > MAX_WEBHOOK_ID:
        return f"webhook-id is longer than {MAX_WEBHOOK_ID} characters."
    for secret in connection.webhook_secrets:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
        except WebhookVerificationError as exc:
            text = str(exc)
            if "timestamp" in text.lower():
                # Same for every secret: the timestamp is outside the ±5 minute window.
                return f"{text} (allowed: ±5 minutes)."
        except (ValueError, UnicodeDecodeError):
            return "Malformed webhook-signature or body encoding."
        else:
            return None
    return "No signature matches this connection's webhook secrets."
