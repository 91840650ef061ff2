"""Verifying HighLevel's app webhooks (INSTALL, UNINSTALL): who sent it, then what it says.

    ed25519_pem, rsa_pem = configured_public_keys(settings)     # once, at start: ConfigError
    event = verify_app_webhook(body, request.headers, ed25519_pem=ed25519_pem,
                               rsa_pem=rsa_pem, now=datetime.now(UTC))

GHL signs the raw body of each delivery. The checks run in this order, and the first that
fails answers (`AppWebhookRejected.status`):

    x-ghl-signature present    Ed25519 (base64) over the raw body with GHL_WEBHOOK_PUBLIC_KEY
                               (default: GHL's published key); x-wh-signature is then
                               ignored, whatever it holds                        else 401
    else x-wh-signature        RSA-SHA256, PKCS#1 v1.5 (base64), only when
                               GHL_WEBHOOK_RSA_PUBLIC_KEY is set (GHL retired it in 2026)
    neither usable             401, saying which header is expected
    body                       strict JSON in UTF-8: no NaN, no key given twice  else 400
    timestamp                  present, ISO 8601                                  else 422
                               within now ± max_skew (5 minutes)                  else 401
    the rest of the payload    schemas.ghl_app (the field is named)               else 422

Nothing of the body is decoded before its signature holds. The timestamp is checked before
the rest of the payload, so a replayed old delivery is refused as stale whatever it holds.
Repeats inside the window are the receiver's to refuse, by `webhookId`. The size of the body
is bounded by the receiver before it comes here.

    SocialbridgeError
     └── AppWebhookRejected      status (400, 401, 422) and a reason safe to send back
    ConfigError                  a configured key cannot be read, or is of the wrong kind
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from marshmallow import ValidationError

from schemas.ghl_app import (
    APP_EVENT_TYPES,
    INSTALL,
    UNINSTALL,
    AppWebhookEvent,
    app_event_errors,
    load_app_event,
    load_timestamp,
)
from socialbridge import strict_json
from socialbridge.config import ConfigError, Settings
from socialbridge.errors import SocialbridgeError
from socialbridge.strict_json import NotStrictJSON, Problem

__all__ = [
    "APP_EVENT_TYPES",
    "DEFAULT_MAX_SKEW",
    "ED25519_SETTING",
    "GHL_LEGACY_RSA_PUBLIC_KEY_PEM",
    "GHL_PUBLISHED_ED25519_PUBLIC_KEY_PEM",
    "INSTALL",
    "RSA_SETTING",
    "RSA_SIGNATURE_HEADER",
    "SIGNATURE_HEADER",
    "UNINSTALL",
    "AppWebhookEvent",
    "AppWebhookRejected",
    "SignatureScheme",
    "configured_public_keys",
    "load_ed25519_public_key",
    "load_public_key",
    "load_rsa_public_key",
    "parse_body",
    "verify_app_webhook",
    "verify_signature",
]

SIGNATURE_HEADER = "x-ghl-signature"
RSA_SIGNATURE_HEADER = "x-wh-signature"
ED25519_SETTING = "GHL_WEBHOOK_PUBLIC_KEY"
RSA_SETTING = "GHL_WEBHOOK_RSA_PUBLIC_KEY"

DEFAULT_MAX_SKEW = timedelta(minutes=5)
MIN_RSA_KEY_BITS = 2048

GHL_PUBLISHED_ED25519_PUBLIC_KEY_PEM = """\
-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=
-----END PUBLIC KEY-----
"""
"""The Ed25519 key HighLevel publishes for `x-ghl-signature`, in its Webhook Integration Guide
(marketplace.gohighlevel.com/docs/webhook/WebhookIntegrationGuide). Used when
GHL_WEBHOOK_PUBLIC_KEY is empty. If GHL rotates it, set GHL_WEBHOOK_PUBLIC_KEY to the new one:
no release is needed."""

GHL_LEGACY_RSA_PUBLIC_KEY_PEM = """\
-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAokvo/r9tVgcfZ5DysOSC
Frm602qYV0MaAiNnX9O8KxMbiyRKWeL9JpCpVpt4XHIcBOK4u3cLSqJGOLaPuXw6
dO0t6Q/ZVdAV5Phz+ZtzPL16iCGeK9po6D6JHBpbi989mmzMryUnQJezlYJ3DVfB
csedpinheNnyYeFXolrJvcsjDtfAeRx5ByHQmTnSdFUzuAnC9/GepgLT9SM4nCpv
uxmZMxrJt5Rw+VUaQ9B8JSvbMPpez4peKaJPZHBbU3OdeCVx5klVXXZQGNHOs8gF
3kvoV5rTnXV0IknLBXlcKKAQLZcY/Q9rG6Ifi9c+5vqlvHPCUJFT5XUGG5RKgOKU
J062fRtN+rLYZUV+BjafxQauvC8wSWeYja63VSUruvmNj8xkx2zE/Juc+yjLjTXp
IocmaiFeAO6fUtNjDeFVkhf5LNb59vECyrHD2SQIrhgXpO4Q3dVNA5rw576PwTzN
h/AMfHKIjE4xQA1SZuYJmNnmVZLIZBlQAF9Ntd03rfadZ+yDiOXCCs9FkHibELhC
HULgCsnuDJHcrGNd5/Ddm5hxGQ0ASitgHeMZ0kcIOwKDOzOU53lDza6/Y09T7sYJ
PQe7z0cvj7aE4B+Ax1ZoZGPzpJlZtGXCsu9aTEGEnKzmsFqwcSsnw3JB31IGKAyk
T1hhTiaCeIY/OwwwNUY2yvcCAwEAAQ==
-----END PUBLIC KEY-----
"""
"""The RSA key HighLevel published for the legacy `x-wh-signature`, for reference only.

Never a default: RSA-signed deliveries are refused unless GHL_WEBHOOK_RSA_PUBLIC_KEY is set
(to this key, for an app that still receives them)."""

# One PEM block: its label and its base64 body, however the lines were broken or joined.
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_PEM_LINE_CHARS = 64


class SignatureScheme(StrEnum):
    """How a delivery proved it comes from GHL."""

    ED25519 = "ed25519"  # x-ghl-signature
    RSA = "rsa"  # x-wh-signature, legacy


class AppWebhookRejected(SocialbridgeError):
    """A delivery refused: `status` is the HTTP answer, `reason` says why in words safe to send.

    `errors` holds the field messages of a 422 by dotted path (`{"locationId": ["…"]}`), the
    form of our other 422 answers; it is empty otherwise.
    """

    def __init__(
        self, status: int, reason: str, errors: Mapping[str, list[str]] | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.errors: dict[str, list[str]] = dict(errors or {})

    def __str__(self) -> str:
        return f"{self.status}: {self.reason}"


# -- keys -------------------------------------------------------------------------------------


def load_public_key(pem: str, *, setting: str) -> Ed25519PublicKey | RSAPublicKey:
    """The Ed25519 or RSA public key in `pem`; ConfigError naming `setting` when it is not one.

    Settings come from the environment and from KEY=VALUE env files, which cannot hold line
    breaks, so besides a PEM as written this takes one on a single line (breaks written as
    ``\\n``, or left out) and the bare base64 of the key (the text between the PEM's markers).
    """
    der = _der(pem, setting=setting)  # outside the try: ConfigError is a ValueError too
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(
            f"{setting}: not a public key. Expected a PEM (-----BEGIN PUBLIC KEY-----…) or the "
            "base64 between its markers"
        ) from None
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, RSAPublicKey):
        if key.key_size < MIN_RSA_KEY_BITS:
            raise ConfigError(
                f"{setting}: an RSA key of {key.key_size} bits; at least {MIN_RSA_KEY_BITS} "
                "are required"
            )
        return key
    raise ConfigError(f"{setting}: a {_kind(key)} key; expected Ed25519 or RSA")


def load_ed25519_public_key(pem: str, *, setting: str = ED25519_SETTING) -> Ed25519PublicKey:
    """The Ed25519 key in `pem`; ConfigError naming `setting` when it is unreadable or not one."""
    key = load_public_key(pem, setting=setting)
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{setting}: an RSA key; expected the Ed25519 key of x-ghl-signature")
    return key


def load_rsa_public_key(pem: str, *, setting: str = RSA_SETTING) -> RSAPublicKey:
    """The RSA key in `pem`; ConfigError naming `setting` when it is unreadable or not one."""
    key = load_public_key(pem, setting=setting)
    if not isinstance(key, RSAPublicKey):
        raise ConfigError(f"{setting}: an Ed25519 key; expected the RSA key of x-wh-signature")
    return key


def configured_public_keys(settings: Settings) -> tuple[str, str | None]:
    """(Ed25519 PEM, RSA PEM or None) that `verify_app_webhook` takes, from the settings.

    An empty GHL_WEBHOOK_PUBLIC_KEY means GHL's published key; an empty
    GHL_WEBHOOK_RSA_PUBLIC_KEY means RSA-signed deliveries are refused. Both keys are read
    here, so a process started with a key it cannot use stops with a ConfigError naming the
    setting instead of refusing every delivery.
    """
    ed25519_pem = settings.ghl_webhook_public_key or GHL_PUBLISHED_ED25519_PUBLIC_KEY_PEM
    rsa_pem = settings.ghl_webhook_rsa_public_key or None
    _ed25519_key(ed25519_pem)
    if rsa_pem is not None:
        _rsa_key(rsa_pem)
    return ed25519_pem, rsa_pem


@lru_cache(maxsize=8)
def _ed25519_key(pem: str) -> Ed25519PublicKey:
    # Keys are immutable and settings rarely change: read each PEM once, not per delivery.
    return load_ed25519_public_key(pem, setting=ED25519_SETTING)


@lru_cache(maxsize=8)
def _rsa_key(pem: str) -> RSAPublicKey:
    return load_rsa_public_key(pem, setting=RSA_SETTING)


def _der(pem: str, *, setting: str) -> bytes:
    """The DER bytes of a public key given as PEM, one-line PEM or bare base64."""
    text = pem.strip().replace("\\n", "\n")
    if not text:
        raise ConfigError(f"{setting}: empty; expected a PEM public key")
    block = _PEM_BLOCK.search(text)
    if block is not None:
        if block.group(1) == "RSA PUBLIC KEY":
            # PKCS#1 rather than SubjectPublicKeyInfo: rebuild it with proper lines and let
            # cryptography convert it.
            return _pkcs1_to_der(block.group(1), block.group(2), setting=setting)
        if block.group(1) != "PUBLIC KEY":
            raise ConfigError(
                f"{setting}: a PEM {block.group(1)!r} block; expected a PUBLIC KEY "
                "(never paste a private key)"
            )
        text = block.group(2)
    elif "-----" in text:
        raise ConfigError(f"{setting}: a PEM without matching BEGIN and END lines")
    body = "".join(text.split())
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{setting}: the key is not valid base64") from None


def _pkcs1_to_der(label: str, body: str, *, setting: str) -> bytes:
    compact = "".join(body.split())
    lines = [compact[i : i + _PEM_LINE_CHARS] for i in range(0, len(compact), _PEM_LINE_CHARS)]
    pem = "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{setting}: not a readable RSA public key") from None
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _kind(key: object) -> str:
    return type(key).__name__.removeprefix("_").replace("PublicKey", "") or "unknown"


# -- verification -----------------------------------------------------------------------------


def verify_signature(
    raw: bytes, headers: Mapping[str, str], *, ed25519_pem: str, rsa_pem: str | None
) -> SignatureScheme:
    """Which signature of `raw` holds; AppWebhookRejected (401) when none does.

    A present `x-ghl-signature` decides alone: when it does not verify, the delivery is
    refused even if an `x-wh-signature` would, so RSA can never stand in for a failed Ed25519.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    ed25519_signature = lowered.get(SIGNATURE_HEADER)
    if ed25519_signature is not None:
        ed25519_key = _ed25519_key(ed25519_pem)
        signature = _signature_bytes(ed25519_signature)
        try:
            if signature is None:
                raise InvalidSignature
            ed25519_key.verify(signature, raw)
        except InvalidSignature:
            raise AppWebhookRejected(
                401, f"bad {SIGNATURE_HEADER}: it does not verify the body with GHL's key"
            ) from None
        return SignatureScheme.ED25519
    rsa_signature = lowered.get(RSA_SIGNATURE_HEADER)
    if rsa_signature is not None and rsa_pem:
        rsa_key = _rsa_key(rsa_pem)
        signature = _signature_bytes(rsa_signature)
        try:
            if signature is None:
                raise InvalidSignature
            rsa_key.verify(signature, raw, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise AppWebhookRejected(
                401, f"bad {RSA_SIGNATURE_HEADER}: it does not verify the body with GHL's key"
            ) from None
        return SignatureScheme.RSA
    if rsa_signature is not None:
        raise AppWebhookRejected(
            401,
            f"no {SIGNATURE_HEADER}: this receiver takes GHL's Ed25519 signature; the legacy "
            f"{RSA_SIGNATURE_HEADER} is accepted only when {RSA_SETTING} is set",
        )
    raise AppWebhookRejected(
        401,
        f"no {SIGNATURE_HEADER} (GHL's Ed25519 signature of the body); {RSA_SIGNATURE_HEADER} "
        f"is accepted only when {RSA_SETTING} is set",
    )


def verify_app_webhook(
    raw: bytes,
    headers: Mapping[str, str],
    *,
    ed25519_pem: str,
    rsa_pem: str | None,
    now: datetime,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> AppWebhookEvent:
    """The event of a delivery whose signature, body and timestamp all hold.

    Raises AppWebhookRejected (400, 401 or 422, see the module's docstring), or ConfigError
    when a key cannot be read (read them at start with `configured_public_keys`).
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    verify_signature(raw, headers, ed25519_pem=ed25519_pem, rsa_pem=rsa_pem)
    payload = parse_body(raw)
    try:
        sent_at = load_timestamp(payload)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if abs(now - sent_at) > max_skew:
        minutes = max_skew.total_seconds() / 60
        raise AppWebhookRejected(
            401,
            f"stale timestamp: {sent_at.isoformat()} is more than {minutes:g} minutes from now",
        )
    try:
        return load_app_event(payload)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _signature_bytes(header: str) -> bytes | None:
    """The bytes of a base64 signature header, or None when it is not base64."""
    try:
        return base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        return None


def _invalid(exc: ValidationError) -> AppWebhookRejected:
    errors = app_event_errors(exc)
    named = "; ".join(f"{path}: {' '.join(messages)}" for path, messages in errors.items())
    return AppWebhookRejected(422, f"invalid payload: {named}", errors)


# -- body -------------------------------------------------------------------------------------


def parse_body(raw: bytes) -> Any:
    """`raw` decoded as strict JSON in UTF-8; AppWebhookRejected (400) saying what is wrong.

    Strict (`socialbridge.strict_json`): NaN and Infinity, numbers out of range and a key
    given twice in one object are refused (with a repeated key, which value counts would be a
    guess). Nesting deeper than the CRM receiver's `strict_json.MAX_DEPTH` (32; GHL's events
    nest 2 levels) is a 400 too: a body nested some 500 levels deep, even under GHL's own
    signature, once reached the queue and killed the worker that pickled it for its pool.
    """
    try:
        # Long numbers stay allowed (a signed delivery never had that bound); depth does not.
        return strict_json.loads(raw, max_depth=strict_json.MAX_DEPTH, max_number_chars=None)
    except NotStrictJSON as exc:
        raise AppWebhookRejected(400, _refusal(exc)) from None


def _refusal(exc: NotStrictJSON) -> str:
    match exc.problem:
        case Problem.NOT_UTF8:
            return f"body is not UTF-8: {exc.detail}"
        case Problem.REPEATED_KEYS:
            key = exc.repeated[0][-1]
            return (
                f"body is not JSON we accept: the key {key!r} is given more than once in one object"
            )
        case Problem.TOO_DEEP | Problem.INVALID:
            return f"body is not JSON we accept: {exc.detail}"
