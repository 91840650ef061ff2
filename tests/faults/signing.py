"""Standard Webhooks signatures over raw bytes, for requests no well-behaved client would send.

`standardwebhooks.Webhook.sign` takes the body as text; a fuzzer needs to sign bytes that are
not UTF-8, and header values that are not ASCII. The receiver reads header values as WSGI
hands them over (ISO-8859-1 text) and signs ``f"{id}.{timestamp}.{body}".encode()`` (UTF-8), so
`signature` signs exactly those bytes: what a CRM would have to sign for the receiver to agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def signed_bytes(webhook_id: bytes, timestamp: bytes, body: bytes) -> bytes:
    """The bytes the receiver computes its HMAC over, for these raw header values and body."""

    def as_read(value: bytes) -> bytes:
        return value.decode("latin-1").encode("utf-8")

    return as_read(webhook_id) + b"." + as_read(timestamp) + b"." + body


def signature(secret: str, webhook_id: bytes, timestamp: bytes, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of the request, with a ``whsec_`` secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")
    digest = hmac.new(key, signed_bytes(webhook_id, timestamp, body), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
