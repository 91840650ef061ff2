"""The `state` of a GHL install: signed, expiring, naming the connection it installs.

    state, nonce = new_state(secret_key, connection_id, now=now)      # /oauth/ghl/start
    claims = read_state(secret_key, state, now=now, fallback_keys=…)  # /oauth/ghl/callback

The state travels through the user's browser and GHL's authorize page and comes back on the
callback, so it is signed (itsdangerous, HMAC-SHA256 under a key derived from SECRET_KEY and
the salt "ghl-oauth-state", which keeps it apart from every other use of SECRET_KEY). It
carries the connection id, a random nonce and the time it was issued, and it is URL-safe
(base64url and dots). States signed under a key of SECRET_KEY_FALLBACKS are still read, so a
rotation of SECRET_KEY does not break an install that is under way.

Expiry is checked here against the caller's `now` (10 minutes by default). Single use is not:
a signature cannot know whether it was seen before. The caller must consume `claims.nonce`
exactly once in the store (one row per nonce, inserted or marked used in one statement) and
refuse the callback when the nonce was already used. Binding the install to the browser that
started it (the nonce also kept in a short-lived cookie at /start and compared at the
callback) is the caller's too; it stops a stranger's code and state from being completed in
someone else's browser.

    SocialbridgeError
     └── StateInvalid    reason: "bad signature", "malformed" or "expired"
    ConfigError          an empty secret key (a state signed with "" could be forged)
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadData, BadSignature, URLSafeSerializer

from socialbridge.config import ConfigError
from socialbridge.errors import SocialbridgeError

SALT = "ghl-oauth-state"
DEFAULT_MAX_AGE = timedelta(minutes=10)
FUTURE_TOLERANCE = timedelta(minutes=1)
"""How far in the future an issue time may lie: the clocks of two web processes differ a
little; a state from further ahead was not issued by any of them."""

MAX_STATE_CHARS = 1000
MAX_CONNECTION_ID_CHARS = 200
NONCE_BYTES = 16

BAD_SIGNATURE = "bad signature"
MALFORMED = "malformed"
EXPIRED = "expired"

# base64url and the dots between payload and signature: anything else never came from us.
_STATE_FORM = re.compile(r"^[A-Za-z0-9_\-.]+$")


class StateInvalid(SocialbridgeError):
    """A state that cannot be trusted; `reason` is BAD_SIGNATURE, MALFORMED or EXPIRED."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class StateClaims:
    """What a valid state says: which connection, its nonce, and when it was issued (UTC)."""

    connection_id: str
    nonce: str
    issued_at: datetime


def new_state(secret_key: str, connection_id: str, *, now: datetime) -> tuple[str, str]:
    """(state, nonce): a state for installing `connection_id`, issued at `now`.

    The issue time is kept to the second. The nonce is returned for the caller to record (or
    to set in a cookie); it is also inside the state.
    """
    if not connection_id or len(connection_id) > MAX_CONNECTION_ID_CHARS:
        raise ValueError(f"connection_id must be 1 to {MAX_CONNECTION_ID_CHARS} characters")
    nonce = secrets.token_urlsafe(NONCE_BYTES)
    payload = {"c": connection_id, "n": nonce, "t": int(_aware(now).timestamp())}
    return _serializer([_checked_key(secret_key, "SECRET_KEY")]).dumps(payload), nonce


def read_state(
    secret_key: str,
    state: str,
    *,
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
    fallback_keys: Iterable[str] = (),
) -> StateClaims:
    """The claims of `state` when it is ours and younger than `max_age` at `now`.

    Raises StateInvalid saying which check failed. Does not make the state single-use: the
    caller consumes `claims.nonce` once in the store.
    """
    keys = [
        *(_checked_key(key, "SECRET_KEY_FALLBACKS") for key in fallback_keys),
        _checked_key(secret_key, "SECRET_KEY"),
    ]
    if not state or len(state) > MAX_STATE_CHARS or not _STATE_FORM.match(state):
        raise StateInvalid(MALFORMED, "not a state this service issues")
    if "." not in state:
        raise StateInvalid(MALFORMED, "no signature in it")
    try:
        payload = _serializer(keys).loads(state)
    except BadSignature:
        raise StateInvalid(BAD_SIGNATURE, "not signed with this service's key") from None
    except BadData:
        # Signed by us, yet unreadable: only a change of format between versions does this.
        raise StateInvalid(MALFORMED, "its content cannot be read") from None
    claims = _claims(payload)
    moment = _aware(now)
    if claims.issued_at > moment + FUTURE_TOLERANCE:
        raise StateInvalid(MALFORMED, "issued in the future")
    if moment - claims.issued_at > max_age:
        minutes = max_age.total_seconds() / 60
        raise StateInvalid(
            EXPIRED, f"issued more than {minutes:g} minutes ago; start the install again"
        )
    return claims


def _serializer(keys: list[str]) -> URLSafeSerializer:
    # itsdangerous signs with the last key and accepts any of them: newest last.
    return URLSafeSerializer(keys, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def _checked_key(key: str, setting: str) -> str:
    if not key:
        raise ConfigError(f"{setting}: empty; an OAuth state signed with it could be forged")
    return key


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return moment.astimezone(UTC)


def _claims(payload: Any) -> StateClaims:
    if not isinstance(payload, dict) or set(payload) != {"c", "n", "t"}:
        raise StateInvalid(MALFORMED, "not the fields of an install state")
    connection_id, nonce, issued = payload["c"], payload["n"], payload["t"]
    if not isinstance(connection_id, str) or not connection_id:
        raise StateInvalid(MALFORMED, "no connection id")
    if not isinstance(nonce, str) or not nonce:
        raise StateInvalid(MALFORMED, "no nonce")
    if isinstance(issued, bool) or not isinstance(issued, int):
        raise StateInvalid(MALFORMED, "no issue time")
    try:
        issued_at = datetime.fromtimestamp(issued, UTC)
    except (OverflowError, OSError, ValueError):
        raise StateInvalid(MALFORMED, "issue time out of range") from None
    return StateClaims(connection_id=connection_id, nonce=nonce, issued_at=issued_at)
