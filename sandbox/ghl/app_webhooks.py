"""Signed app webhooks (INSTALL, UNINSTALL), delivered the way HighLevel delivers them.

HighLevel POSTs its marketplace-app events as JSON and signs them with Ed25519: the header
`x-ghl-signature` is the base64 signature of the raw body, checked with GHL's published public
key. The sandbox signs with its own key pair instead: the private key never leaves this module,
the public key is `SANDBOX_WEBHOOK_PUBLIC_KEY_PEM` (also served at `/_sandbox/webhook-public-key`)
for a receiver to be configured with. The key is derived from a fixed seed, so it is the same in
every process and on every start, and the constant can be pasted into a receiver's settings.

A delivery can be `tampered`: the body is signed, then changed before it is sent, so the
signature no longer matches; `timestamp` and `webhook_id` can be chosen to test staleness and
replays. The payloads carry the fields of GHL's AppInstall / AppUninstall docs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.ghl.oauth import SANDBOX_APP_ID, SANDBOX_COMPANY_ID, SANDBOX_USER_ID
from sandbox.ghl.seed import timestamp

SIGNATURE_HEADER = "x-ghl-signature"
EVENT_TYPES = ("INSTALL", "UNINSTALL")
DELIVERY_TIMEOUT_SECONDS = 10.0
SANDBOX_COMPANY_NAME = "Sandbox Agency"

# Not a secret worth keeping: it signs sandbox deliveries only, and a fixed seed keeps the public
# key below stable, so receivers can be configured with it once.
_PRIVATE_KEY = Ed25519PrivateKey.from_private_bytes(
    hashlib.sha256(b"socialbridge sandbox GHL app webhooks").digest()
)

SANDBOX_WEBHOOK_PUBLIC_KEY_PEM = """\
-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAGsCkTyrWxmZfRodVSCoxgGmYlrg9EdjgDoBhvtsuHv0=
-----END PUBLIC KEY-----
"""
"""The public half of the sandbox's signing key (SubjectPublicKeyInfo PEM)."""


class AppWebhookError(ValueError):
    """A delivery request that cannot be sent; the message says which field."""


@dataclass(frozen=True)
class AppWebhook:
    """One app event to deliver: where to, what, and how to spoil it for negative tests."""

    url: str
    type: str
    location_id: str
    company_id: str = SANDBOX_COMPANY_ID
    app_id: str = SANDBOX_APP_ID
    tamper: bool = False
    timestamp: str | None = None
    webhook_id: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppWebhook:
        """Read the admin API's JSON; raise AppWebhookError when it cannot be used."""
        known = {
            "url", "type", "location_id", "company_id", "app_id", "tamper", "timestamp",
            "webhook_id",
        }  # fmt: skip
        unknown = sorted(set(data) - known)
        if unknown:
            raise AppWebhookError(f"unknown fields: {', '.join(unknown)}")
        url = data.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise AppWebhookError("url: expected an http(s) URL")
        if data.get("type") not in EVENT_TYPES:
            raise AppWebhookError(f"type: expected one of {', '.join(EVENT_TYPES)}")
        for name in ("location_id", "company_id", "app_id", "timestamp", "webhook_id"):
            value = data.get(name)
            if value is not None and (not isinstance(value, str) or not value):
                raise AppWebhookError(f"{name}: expected a non-empty string")
        if not data.get("location_id"):
            raise AppWebhookError("location_id: expected a non-empty string")
        if not isinstance(data.get("tamper", False), bool):
            raise AppWebhookError("tamper: expected true or false")
        moment = data.get("timestamp")
        if moment is not None:
            try:
                datetime.fromisoformat(moment)
            except ValueError:
                raise AppWebhookError("timestamp: expected an ISO 8601 date-time") from None
        return cls(
            url=url,
            type=data["type"],
            location_id=data["location_id"],
            company_id=data.get("company_id") or SANDBOX_COMPANY_ID,
            app_id=data.get("app_id") or SANDBOX_APP_ID,
            tamper=data.get("tamper", False),
            timestamp=moment,
            webhook_id=data.get("webhook_id"),
        )

    def payload(self) -> dict[str, Any]:
        """The event body, in the field names of GHL's AppInstall / AppUninstall docs."""
        body: dict[str, Any] = {
            "type": self.type,
            "appId": self.app_id,
            "locationId": self.location_id,
            "companyId": self.company_id,
        }
        if self.type == "INSTALL":
            body |= {
                "installType": "Location",
                "userId": SANDBOX_USER_ID,
                "companyName": SANDBOX_COMPANY_NAME,
                "isWhitelabelCompany": False,
            }
        body["timestamp"] = self.timestamp or timestamp(datetime.now(UTC))
        body["webhookId"] = self.webhook_id or str(uuid.uuid4())
        return body


def sign(body: bytes) -> str:
    """The `x-ghl-signature` of a raw body: base64 of its Ed25519 signature."""
    return base64.b64encode(_PRIVATE_KEY.sign(body)).decode("ascii")


def public_key_pem() -> str:
    """The PEM of the signing key's public half, computed (the constant must equal it)."""
    return (
        _PRIVATE_KEY.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def signed_delivery(webhook: AppWebhook) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers to send; a tampered body no longer matches its signature."""
    payload = webhook.payload()
    body = json.dumps(payload, separators=(",", ":")).encode()
    signature = sign(body)
    if webhook.tamper:
        # A changed value, still valid JSON: a receiver must refuse it on the signature alone.
        payload["locationId"] = f"{payload['locationId']}-tampered"
        body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
    return body, headers


def deliver(webhook: AppWebhook) -> dict[str, Any]:
    """POST the signed event; return what was sent and the receiver's answer.

    Raises httpx.HTTPError when the receiver cannot be reached.
    """
    body, headers = signed_delivery(webhook)
    answer = httpx.post(
        webhook.url, content=body, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS
    )
    return {
        "sent": {"url": webhook.url, "headers": headers, "body": body.decode()},
        "status": answer.status_code,
        "answer": answer.text,
    }
