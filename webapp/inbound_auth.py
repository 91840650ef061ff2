"""Who sent an inbound POST: the two ways a CRM proves it, and the key that de-duplicates it.

A connection accepts only the mode it was created with (`store.ConnectionRecord.inbound_auth`):

    signature  Standard Webhooks: webhook-id, webhook-timestamp (±5 minutes) and
               webhook-signature, an HMAC of the body under one of the active webhook secrets.
               The delivery key is the webhook-id.
    token      Authorization: Bearer <inbound_token>, compared in constant time with each
               active token. The delivery key is the mapping's `id` of the body when it has
               one, else a SHA-256 of the body: the same POST sent twice is one event.

`authenticate` answers why a request is refused in words safe to send back: it never says
which part of a token or signature was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from socialbridge.inbound_auth import InboundAuth
from store import ConnectionRecord

# The event log keeps delivery keys in a 255-character column; Standard Webhooks ids are short.
MAX_WEBHOOK_ID = 255
# Seconds since the epoch have 10 digits until the year 2286.
MAX_TIMESTAMP_DIGITS = 20
# A mapped id longer than this (or not printable ASCII) is kept as its hash.
MAX_PLAIN_DELIVERY_ID = 200


def plain_ascii(value: str) -> bool:
    """Printable ASCII only: no control characters (NUL), nothing a database could refuse."""
    return value.isascii() and value.isprintable()


def authenticate(
    connection: ConnectionRecord, body: bytes, headers: Mapping[str, str]
) -> str | None:
    """None when the request proves it comes from the connection's CRM; else why not."""
    lowered = {key.lower(): value for key, value in headers.items()}
    if connection.inbound_auth == InboundAuth.TOKEN:
        return _check_token(connection, lowered)
    return _check_signature(connection, body, lowered)


def refusal_code(connection: ConnectionRecord) -> str:
    """The ``error`` code of a 401 for this connection's mode."""
    return "invalid_token" if connection.inbound_auth == InboundAuth.TOKEN else "invalid_signature"


def delivery_key(
    connection: ConnectionRecord, body: bytes, headers: Mapping[str, str], mapped_id: str | None
) -> str:
    """The key that makes a repeated delivery a duplicate (an authenticated request only)."""
    if connection.inbound_auth != InboundAuth.TOKEN:
        lowered = {key.lower(): value for key, value in headers.items()}
        return lowered["webhook-id"]
    if mapped_id is not None:
        if plain_ascii(mapped_id) and 0 < len(mapped_id) <= MAX_PLAIN_DELIVERY_ID:
            return f"id:{mapped_id}"
        # surrogatepass, not replace: ids that differ only in lone surrogates stay different.
        raw = mapped_id.encode("utf-8", "surrogatepass")
        return "id-sha256:" + hashlib.sha256(raw).hexdigest()
    return "body-sha256:" + hashlib.sha256(body).hexdigest()


def _check_token(connection: ConnectionRecord, headers: Mapping[str, str]) -> str | None:
    given = headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if not given:
        return (
            "Missing Authorization header: this connection takes 'Authorization: Bearer <token>'."
        )
    if scheme.lower() != "bearer" or not token.strip():
        return "Authorization must be 'Bearer <token>'."
    presented = token.strip().encode("utf-8", "replace")
    # Every active token is compared, whatever matched first: the time taken says nothing.
    matched = False
    for active in connection.inbound_tokens:
        matched |= hmac.compare_digest(presented, active.encode("utf-8"))
    return None if matched else "The token is not this connection's inbound token."


def _check_signature(
    connection: ConnectionRecord, body: bytes, headers: Mapping[str, str]
) -> str | None:
    """None when one of the connection's active secrets signed the body; else why not."""
    missing = [
        h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if h not in headers
    ]
    if missing:
        return f"Missing header(s): {', '.join(missing)}."
    timestamp = headers["webhook-timestamp"].strip()
    # isascii: str.isdigit also takes digits such as "²" that no clock writes.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > MAX_TIMESTAMP_DIGITS:
        return "webhook-timestamp must be whole seconds since the Unix epoch."
    if len(headers["webhook-id"]) > MAX_WEBHOOK_ID:
        return f"webhook-id is longer than {MAX_WEBHOOK_ID} characters."
    if not plain_ascii(headers["webhook-id"]):
        return "webhook-id must be printable ASCII: no control or non-ASCII characters."
    for secret in connection.webhook_secrets:
        try:
            Webhook(secret).verify(body, dict(headers), json_parse=False)
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
