"""`WebhookConnector`: write-backs POSTed to the CRM's URL, signed the Standard Webhooks way.

Each write is one POST of the compact JSON envelope (`schemas.writebacks.dump_writeback`),
with the exact bytes that were signed, and these headers:

    webhook-id         the write-back's idempotency key, the same on every retry
    webhook-timestamp  when this attempt was signed (unix seconds)
    webhook-signature  "v1,<base64 HMAC-SHA256 of id.timestamp.body>" with the CRM secret
    content-type       application/json
    user-agent         socialbridge/<version>

How the CRM's answer is read:

    2xx, 409       delivered (409: the CRM already has this webhook-id; that is success for
                   an idempotent write, and retrying could only get the same answer)
    401, 403       AuthError: the CRM refused our signature, so the CRM secret is wrong
    408, 429, 5xx  RetryableError, with ``retry_after`` from Retry-After when given
    other 4xx, 3xx PermanentError carrying the CRM's message (redirects are not followed:
                   a signed body goes only to the URL the operator configured)
    network error, timeout    RetryableError

The URL's path and query may hold a CRM's own secret (many CRMs put a token there), so logs
and messages name only its origin.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from marshmallow import ValidationError
from standardwebhooks import Webhook

from crm.connector import OutgoingRequest, WriteBack
from crm.write_outcomes import REFUSED_SIGNATURE, failure_outcome
from schemas.writebacks import dump_writeback
from socialbridge.errors import AuthError, IntegrationError, PermanentError, RetryableError
from socialbridge.httputil import USER_AGENT, is_retryable_status, parse_retry_after
from socialbridge.logs import get_logger

log = get_logger(__name__)

SYSTEM = "crm"
_MAX_MESSAGE = 300


class WebhookConnector:
    """Implements `crm.connector.CRMConnector` over an injected ``httpx.Client``.

    The client's timeout and transport are the caller's choice (see `crm.registry`);
    `close()` closes it. ``clock`` (unix seconds) is there for tests of stale signatures.
    Raises ValueError when the URL is not http(s) or the secret is not a ``whsec_`` secret.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        url: str,
        secret: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"CRM URL: not a URL httpx can use ({exc})") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("CRM URL: expected an http:// or https:// URL")
        self._signer = signer_for(secret)
        self._http = http
        self._url = parsed
        self._origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
        self._clock = clock

    def write(self, writeback: WriteBack) -> None:
        """POST one signed write-back; return once the CRM has it, raise otherwise."""
        body, headers = self._signed(writeback)
        fields: dict[str, Any] = {
            "type": writeback.type,
            "webhook_id": writeback.idempotency_key,
            "crm": self._origin,
        }
        started = time.perf_counter()
        try:
            response = self._http.post(self._url, content=body.encode(), headers=headers)
        except httpx.TimeoutException as exc:
            self._failed(fields, started, "timeout")
            raise RetryableError(
                f"write-back timed out ({type(exc).__name__})", system=SYSTEM
            ) from exc
        except httpx.TransportError as exc:
            self._failed(fields, started, "network")
            raise RetryableError(f"CRM unreachable: {_describe(exc)}", system=SYSTEM) from exc
        fields["status"] = response.status_code
        fields["elapsed_ms"] = _ms_since(started)
        error = _error_for(response)
        if error is None:
            log.info("crm.write", outcome="delivered", **fields)
            return
        log.warning(
            "crm.write", outcome=failure_outcome(error, refused=REFUSED_SIGNATURE), **fields
        )
        raise error

    def preview(self, writeback: WriteBack) -> list[OutgoingRequest]:
        """The one signed POST ``write`` would send now (its signature is of this moment)."""
        body, headers = self._signed(writeback)
        return [
            OutgoingRequest(
                method="POST",
                url=str(self._url),
                headers=headers,
                body=body,
                purpose=f"deliver {writeback.type} (a retry reuses its webhook-id)",
            )
        ]

    def _signed(self, writeback: WriteBack) -> tuple[str, dict[str, str]]:
        signed_at = int(self._clock())
        when = dt.datetime.fromtimestamp(signed_at, tz=dt.UTC)
        body = self._body(writeback, when)
        headers = {
            "webhook-id": writeback.idempotency_key,
            "webhook-timestamp": str(signed_at),
            "webhook-signature": self._signer.sign(writeback.idempotency_key, when, body),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        return body, headers

    def check(self) -> str:
        """Probe the CRM URL with a plain, unsigned ``GET``.

        A webhook endpoint usually answers a GET with 404 or 405, or even 401; any HTTP
        answer proves the URL's host is up and reachable, which is all this checks. A signed
        probe is not possible: the contract has only the three write-back types, and a CRM
        must not store a "ping". Raises RetryableError on network errors and timeouts.
        """
        started = time.perf_counter()
        try:
            with self._http.stream("GET", self._url, headers={"user-agent": USER_AGENT}) as r:
                status = r.status_code
        except httpx.TimeoutException as exc:
            log.warning("crm.check", crm=self._origin, outcome="timeout")
            raise RetryableError(f"{self._origin} did not answer in time", system=SYSTEM) from exc
        except httpx.TransportError as exc:
            log.warning("crm.check", crm=self._origin, outcome="network")
            raise RetryableError(
                f"{self._origin} is unreachable: {_describe(exc)}", system=SYSTEM
            ) from exc
        elapsed = _ms_since(started)
        log.info("crm.check", crm=self._origin, status=status, elapsed_ms=elapsed)
        return f"{self._origin} is reachable (GET answered HTTP {status} in {elapsed} ms)"

    def close(self) -> None:
        """Close the HTTP client this connector was given."""
        self._http.close()

    def _body(self, writeback: WriteBack, when: dt.datetime) -> str:
        key = writeback.idempotency_key
        # It travels as an HTTP header (webhook-id): printable ASCII only.
        if not key or not (key.isascii() and key.isprintable()):
            raise PermanentError(
                "write-back not sent: the idempotency key must be non-empty printable ASCII",
                system=SYSTEM,
            )
        try:
            data = dict(writeback.data)
            if writeback.record:
                # The CRM record the event named comes back with the result (data.record).
                data["record"] = dict(writeback.record)
            envelope = dump_writeback(writeback.type, data, timestamp=when)
        except ValidationError as exc:
            # Our own payload is wrong: sending it again can never work.
            raise PermanentError(
                f"write-back not sent, invalid {writeback.type}: {exc.messages}", system=SYSTEM
            ) from exc
        # Compact and ASCII-only: these exact bytes are signed and sent.
        return json.dumps(envelope, separators=(",", ":"))

    def _failed(self, fields: dict[str, Any], started: float, outcome: str) -> None:
        log.warning("crm.write", outcome=outcome, elapsed_ms=_ms_since(started), **fields)


def signer_for(secret: str) -> Webhook:
    """The Standard Webhooks signer of a ``whsec_<base64>`` secret; ValueError if it is not one.

    The library decodes secrets leniently (it skips whatever is not base64), so a mistyped
    secret would sign with another key and fail only at the CRM; this fails when the secret is
    configured instead. The message never quotes the secret.
    """
    raw = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except ValueError:
        key = b""
    if not key:
        raise ValueError("CRM secret: expected whsec_ followed by base64")
    return Webhook(secret)


def _error_for(response: httpx.Response) -> IntegrationError | None:
    """None when the CRM has the write-back, else the error to raise."""
    status = response.status_code
    if 200 <= status < 300 or status == 409:
        return None
    trace_id = response.headers.get("x-request-id") or response.headers.get("x-trace-id")
    message = _message_of(response)
    if status in (401, 403):
        return AuthError(
            f"the CRM refused our signature; check the connection's CRM secret ({message})",
            system=SYSTEM,
            status=status,
            trace_id=trace_id,
        )
    if is_retryable_status(status):
        return RetryableError(
            message,
            system=SYSTEM,
            status=status,
            trace_id=trace_id,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    if 300 <= status < 400:
        message = f"the CRM answered a redirect; configure the final URL ({message})"
    return PermanentError(message, system=SYSTEM, status=status, trace_id=trace_id)


def _message_of(response: httpx.Response) -> str:
    """The CRM's own words: a JSON message/error field, else the start of the text."""
    text = response.text.strip()
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        for key in ("message", "error", "detail", "reason", "errors"):
            if payload.get(key):
                value = payload[key]
                text = value if isinstance(value, str) else json.dumps(value)
                break
    text = text or response.reason_phrase or f"HTTP {response.status_code}"
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


def _describe(exc: httpx.TransportError) -> str:
    return str(exc) or type(exc).__name__


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
