"""How a CRM proves an inbound POST is its own: the modes, webhook secrets, inbound tokens.

Ground level: the store generates and keeps them, connectors declare which modes their CRM
can use, the receiver checks them.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from enum import StrEnum


class InboundAuth(StrEnum):
    """A connection accepts only the mode it was created with."""

    SIGNATURE = "signature"  # Standard Webhooks headers, HMAC with the webhook secret
    TOKEN = "token"  # noqa: S105 - a mode name; Bearer <inbound_token>, for CRMs that cannot sign


WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
INBOUND_TOKEN_PREFIX = "sbt_"  # noqa: S105 - says what a leaked token is, for secret scanners


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 24 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def check_webhook_secret(secret: str) -> str:
    """``secret`` unchanged when it has the Standard Webhooks form, else ValueError.

    Caught here rather than when the first webhook arrives and cannot be verified.
    """
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {WEBHOOK_SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from None
    if len(key) < 16:
        raise ValueError("a webhook secret holds at least 16 bytes of key")
    return secret


def new_inbound_token() -> str:
    """A Bearer token for CRMs that cannot sign: ``sbt_`` and 32 random bytes, URL-safe.

    256 bits: guessing is hopeless, so comparing it in constant time is all the receiver owes.
    """
    return INBOUND_TOKEN_PREFIX + secrets.token_urlsafe(32)
