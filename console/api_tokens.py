"""API tokens for scripts: what `socialbridge users token …`, the account page and the API's
sign-in (`webapp.auth`) do, in one place each.

    made = create_token(store, "ann@example.com", name="nightly export")  # made.token: once
    tokens = list_tokens(store, "ann@example.com")      # never the token
    revoke_token(store, made.record.id)
    result = authenticate(store, throttle, token, address="203.0.113.9")

A token acts as its user with the user's role at each request. A request with a wrong or
revoked token counts as a failed sign-in of its address (`console.throttle`), as a wrong
password does: the address is refused for the rest of its window after
SIGNIN_ADDRESS_LIMIT failures, so tokens cannot be guessed online (not that 256 random bits
could be). Removing the user deletes its tokens; a password reset keeps them (each token is
listed and revoked on its own).
"""

from __future__ import annotations

from dataclasses import dataclass

from console.signin import Refusal
from console.throttle import AddressThrottle
from store import ApiTokenRecord, NotFound, Store, UserRecord


@dataclass(frozen=True)
class NewToken:
    """A token just made: its record, and the token itself (shown once, never stored)."""

    record: ApiTokenRecord
    token: str


@dataclass(frozen=True)
class TokenResult:
    """Either ``user`` (the token is live) or ``refusal`` with ``retry_after`` seconds."""

    user: UserRecord | None = None
    token: ApiTokenRecord | None = None
    refusal: Refusal | None = None
    retry_after: int = 0

    @property
    def message(self) -> str:
        """What the 401 or 429 answer says."""
        if self.refusal is Refusal.THROTTLED:
            minutes = max(1, -(-self.retry_after // 60))
            return f"Too many failed sign-ins from your address: try again in {minutes} min."
        if self.refusal is Refusal.WRONG:
            return "Unknown or revoked API token."
        return ""


def create_token(store: Store, email: str, name: str = "") -> NewToken:
    """A new token for the user ``email`` (NotFound when there is none; ValueError for a
    name that is too long)."""
    user = _user(store, email)
    record, token = store.create_api_token(user.id, name)
    return NewToken(record, token)


def create_own_token(store: Store, user: UserRecord, name: str = "") -> NewToken:
    """A new token for the signed-in ``user`` (the account page)."""
    record, token = store.create_api_token(user.id, name)
    return NewToken(record, token)


def list_tokens(store: Store, email: str | None = None) -> list[ApiTokenRecord]:
    """The tokens of the user ``email`` (NotFound when there is none), or of every user."""
    if email is None:
        return store.list_api_tokens()
    return store.list_api_tokens(_user(store, email).id)


def own_tokens(store: Store, user: UserRecord) -> list[ApiTokenRecord]:
    """The signed-in ``user``'s tokens, newest first."""
    return store.list_api_tokens(user.id)


def revoke_token(store: Store, token_id: str) -> ApiTokenRecord:
    """Revoke any user's token (the CLI: whoever runs it holds the database); NotFound."""
    return store.revoke_api_token(token_id)


def revoke_own_token(store: Store, user: UserRecord, token_id: str) -> ApiTokenRecord:
    """Revoke one of ``user``'s own tokens; NotFound for any other (someone else's too: the
    account page never says which ids exist)."""
    found = store.get_api_token(token_id)
    if found is None or found.user_id != user.id:
        raise NotFound(f"no API token {token_id!r} of yours")
    return store.revoke_api_token(token_id)


def authenticate(
    store: Store, throttle: AddressThrottle, token: str, *, address: str
) -> TokenResult:
    """The user of ``token`` sent from ``address``; a refusal counts against the address.

    An address over its limit is refused before the token is even looked up, so a right
    guess would not be recognised either. Redis errors propagate: the caller refuses the
    request (without the count, guessing would be unlimited)."""
    wait = throttle.retry_after(address)
    if wait:
        return TokenResult(refusal=Refusal.THROTTLED, retry_after=wait)
    found = store.use_api_token(token)
    if found is None:
        throttle.failed(address)
        return TokenResult(refusal=Refusal.WRONG)
    record, user = found
    return TokenResult(user=user, token=record)


def _user(store: Store, email: str) -> UserRecord:
    user = store.find_user(email)
    if user is None:
        raise NotFound(f"no user {email.strip().lower()!r}")
    return user
