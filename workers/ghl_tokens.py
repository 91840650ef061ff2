"""The token keeper: an OAuth connection's access token, refreshed exactly once across processes.

GHL's refresh tokens are single-use: a refresh answers a new pair and kills the refresh token
sent, so two processes refreshing one connection at once leave one of them with
``invalid_grant``, and a keeper that then believed it had lost the grant would cut the
connection off for good. So a refresh is single-flight per connection across every process and
machine:

1. take the Redis lock ``socialbridge:ghl-refresh:<connection id>`` (it expires after
   ``GHL_REFRESH_LOCK_SECONDS``, so a process that dies holding it frees it; others wait for it
   as long, then give up with a RetryableError and their event retries);
2. read the connection again: if tokens were saved since this keeper last looked (its
   ``token_generation`` moved) another process refreshed while we waited, and its token is used;
3. otherwise call the token endpoint once with the stored refresh token, and save the new pair
   (`Store.save_oauth_tokens`, one transaction) before the lock is released;
4. on ``invalid_grant`` read once more (another process may have rotated the pair without the
   lock, e.g. after it expired): a newer pair is used; without one, and on the other refusals
   (``invalid_client``, ``unauthorized_client``, a revoked grant), the connection becomes
   ``needs_reauth`` with the reason, unless tokens were saved meanwhile, and `GrantGone` (an
   AuthError) is raised; the connection's events wait for a new install.

A RetryableError of the token endpoint (5xx, 429, network) goes through unchanged: the event
retries and the connection stays active. The lock outlives the token call as long as
``GHL_TIMEOUT`` is below ``GHL_REFRESH_LOCK_SECONDS`` (15 s and 30 s by default).

Every refresh is one log line ``ghl.token_refresh`` with the connection, the generation it
ended at, the outcome and how long the lock was waited for; never a token:

    refreshed     this process called the token endpoint and saved the new pair
    adopted       another process had refreshed meanwhile: its token is used
    not_due       the stored token needs no refresh (ahead of expiry: not within the margin)
    needs_reauth  the grant is gone for good: the connection waits for a new install
    retry         GHL or Redis is unavailable, or the lock stayed taken: try again later
    failed        anything else (the token endpoint's answer unreadable, the store down)

Agency (Company) grants refresh with the same discipline in `refresh_agency`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from redis.lock import Lock

from ghl.errors import SYSTEM
from ghl.oauth import USER_TYPE_COMPANY, USER_TYPE_LOCATION, GHLOAuth, TokenGrant
from socialbridge.config import Settings
from socialbridge.errors import AuthError, OAuthGrantError, PermanentError, RetryableError
from socialbridge.logs import get_logger
from store import (
    ConnectionRecord,
    ConnectionStatus,
    GhlAgencyRecord,
    GhlAuth,
    Store,
    StoreUnavailable,
)

log = get_logger(__name__)

LOCK_PREFIX = "socialbridge:ghl-refresh:"
AGENCY_LOCK_PREFIX = "socialbridge:ghl-agency-refresh:"
# A token that expires within this is refreshed before it is sent: a request that starts with
# it could meet its expiry on the way.
EXPIRY_SKEW = timedelta(seconds=60)
# How often a process waiting for the lock looks again.
LOCK_POLL_SECONDS = 0.05
# The new pair exists only in this process until it is saved: a store that hiccups gets a few
# more tries (well within the lock) before the pair is lost.
SAVE_DELAYS = (0.2, 0.5, 1.0, 2.0)

OAuthFactory = Callable[[], GHLOAuth]
Clock = Callable[[], datetime]

OUTCOME_REFRESHED = "refreshed"
OUTCOME_ADOPTED = "adopted"
OUTCOME_NOT_DUE = "not_due"
OUTCOME_NEEDS_REAUTH = "needs_reauth"
OUTCOME_RETRY = "retry"
OUTCOME_FAILED = "failed"


def lock_key(connection_id: str) -> str:
    """The Redis key of a connection's refresh lock."""
    return f"{LOCK_PREFIX}{connection_id}"


def agency_lock_key(company_id: str) -> str:
    """The Redis key of an agency's refresh lock."""
    return f"{AGENCY_LOCK_PREFIX}{company_id}"


class GrantGone(AuthError):
    """The connection's OAuth grant is gone for good: it is ``needs_reauth`` (or disconnected,
    or never installed) and only a new install brings it back. Its events should wait."""


class TokenKeeper:
    """`ghl.client.TokenSource` of one connection: its access token, refreshed single-flight.

    Built per event (its client's life) from the connection as the event read it; the store is
    the truth, and it is read again whenever a refresh is considered. A PIT connection's token
    is handed out as it is and never refreshed (`refresh` answers None).
    """

    def __init__(
        self,
        store: Store,
        redis_client: redis.Redis[bytes],
        oauth_factory: OAuthFactory,
        settings: Settings,
        connection: ConnectionRecord,
        *,
        clock: Clock | None = None,
    ) -> None:
        """``oauth_factory`` builds the token endpoint's client when a refresh needs it (and
        the keeper closes it); a ValueError from it (no client id or secret) is an AuthError."""
        self._store = store
        self._redis = redis_client
        self._oauth_factory = oauth_factory
        self._settings = settings
        self._connection = connection
        self._clock = clock or _utc_now
        # One refresh at a time within the process too: a second thread waits here, then
        # finds the generation moved like any other process would.
        self._flight = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"TokenKeeper(connection_id={self._connection.id!r}, "
            f"generation={self._connection.token_generation})"
        )

    @property
    def connection(self) -> ConnectionRecord:
        """The connection as this keeper last read or saved it (secrets inside: never log)."""
        return self._connection

    @property
    def is_oauth(self) -> bool:
        return self._connection.ghl_auth == GhlAuth.OAUTH

    # -- TokenSource ----------------------------------------------------------------------

    def current(self) -> str:
        """The access token to send now; refreshed first when it expires within a minute.

        If that refresh cannot happen now (GHL or Redis unavailable) and the token has not
        expired yet, the token is used anyway: it may well work, and a 401 refreshes again.
        """
        connection = self._connection
        if not self.is_oauth or not self._expires_within(connection, EXPIRY_SKEW):
            return connection.ghl_token
        try:
            _, token = self._refresh(
                "expiry", lambda fresh: self._expires_within(fresh, EXPIRY_SKEW)
            )
        except RetryableError:
            expires_at = connection.token_expires_at
            if expires_at is not None and expires_at > self._clock():
                log.warning(
                    "ghl.token_refresh_deferred",
                    connection_id=connection.id,
                    generation=connection.token_generation,
                )
                return connection.ghl_token
            raise
        return token

    def refresh(self, rejected: str) -> str | None:
        """A newer access token after GHL refused ``rejected``: another process's, or one this
        call gets from the token endpoint. None for a PIT connection.

        Raises GrantGone when the grant is gone for good (the connection is ``needs_reauth``,
        or has no grant at all), another AuthError when the app's credentials are not
        configured, RetryableError when it cannot be done now, PermanentError when the
        connection no longer exists.
        """
        if not self.is_oauth:
            return None
        seen = self._connection.token_generation

        def stale(fresh: ConnectionRecord) -> bool:
            # The stored token is the one refused, or about to expire, and nobody has saved a
            # newer pair since this keeper looked: it is ours to refresh.
            return fresh.token_generation == seen and (
                fresh.ghl_token == rejected or self._expires_within(fresh, EXPIRY_SKEW)
            )

        _, token = self._refresh("rejected", stale)
        return token

    # -- ahead of expiry (beat) -----------------------------------------------------------

    def refresh_ahead(self, margin: timedelta) -> str:
        """Refresh if the stored token expires within ``margin``; return the outcome:
        ``refreshed``, ``adopted`` (another process just did) or ``not_due``.

        Raises as `refresh` does.
        """
        if not self.is_oauth:
            return OUTCOME_NOT_DUE
        outcome, _ = self._refresh("ahead", lambda fresh: self._expires_within(fresh, margin))
        return outcome

    # -- the single flight ----------------------------------------------------------------

    def _refresh(self, trigger: str, stale: Callable[[ConnectionRecord], bool]) -> tuple[str, str]:
        """(outcome, token) under the connection's lock: the stored token unless ``stale``
        says it is due, else a new one from the token endpoint. Logs the outcome."""
        fields: dict[str, Any] = {"connection_id": self._connection.id, "trigger": trigger}
        lock_seconds = self._settings.ghl_refresh_lock_seconds
        with self._flight:
            try:
                with single_flight(
                    self._redis, lock_key(self._connection.id), lock_seconds
                ) as waited:
                    fields["waited_ms"] = waited.ms
                    outcome, token = self._under_lock(stale)
            except GrantGone as exc:
                self._log(OUTCOME_NEEDS_REAUTH, fields, reason=exc.message)
                raise
            except RetryableError as exc:
                self._log(OUTCOME_RETRY, fields, error=str(exc))
                raise
            except Exception as exc:
                self._log(OUTCOME_FAILED, fields, error=f"{type(exc).__name__}: {exc}")
                raise
        self._log(outcome, fields)
        return outcome, token

    def _under_lock(self, stale: Callable[[ConnectionRecord], bool]) -> tuple[str, str]:
        """(outcome, token), the lock held."""
        before = self._connection.token_generation
        fresh = self._reread()
        if not stale(fresh):
            self._connection = fresh
            moved = fresh.token_generation != before
            return (OUTCOME_ADOPTED if moved else OUTCOME_NOT_DUE), fresh.ghl_token
        if fresh.status == ConnectionStatus.NEEDS_REAUTH:
            # Another attempt found the grant gone and nobody has installed again since:
            # asking GHL would only spend a dead refresh token once more.
            self._connection = fresh
            raise GrantGone(
                f"the connection needs re-authorization: {fresh.status_reason or 'no grant'}",
                system=SYSTEM,
            )
        assert fresh.ghl_refresh_token  # _reread refuses a connection without one
        try:
            grant = _call_token_endpoint(
                self._oauth_factory, fresh.ghl_refresh_token, USER_TYPE_LOCATION
            )
        except OAuthGrantError as exc:
            return OUTCOME_ADOPTED, self._after_refusal(fresh, exc)
        self._connection = self._save(fresh, grant)
        return OUTCOME_REFRESHED, self._connection.ghl_token

    def _after_refusal(self, fresh: ConnectionRecord, refusal: OAuthGrantError) -> str:
        """The token of a pair saved meanwhile; else mark the connection and raise GrantGone."""
        if refusal.error == "invalid_grant":
            # Rotated by a process that did not hold the lock (it expired under it)?
            again = self._reread_row()
            if again.token_generation != fresh.token_generation and again.ghl_token:
                self._connection = again
                return again.ghl_token
        reason = (
            f"GHL refused the refresh ({refusal.error}): re-authorize the connection "
            "(open its install URL)"
        )
        if not self._store.mark_needs_reauth(fresh.id, reason, generation=fresh.token_generation):
            # Tokens were saved between our read and the mark: the grant is fine after all.
            again = self._reread_row()
            if again.ghl_token:
                self._connection = again
                return again.ghl_token
        self._connection = self._reread_row()
        raise GrantGone(
            reason, system=SYSTEM, status=refusal.status, trace_id=refusal.trace_id
        ) from refusal

    def _save(self, fresh: ConnectionRecord, grant: TokenGrant) -> ConnectionRecord:
        """Save the new pair, trying again while the store is unavailable."""
        for delay in (*SAVE_DELAYS, None):
            try:
                saved, _ = self._store.save_oauth_tokens(
                    fresh.id,
                    access_token=grant.access_token,
                    refresh_token=grant.refresh_token,
                    expires_at=grant.expires_at,
                    scopes=grant.scopes or fresh.scopes,
                    location_id=grant.location_id or fresh.location_id,
                    company_id=grant.company_id or fresh.company_id,
                    authorized=False,
                )
            except StoreUnavailable as exc:
                if delay is None:
                    # GHL has rotated the pair and only this process knew the new one.
                    log.error(
                        "ghl.token_refresh_lost",
                        connection_id=fresh.id,
                        generation=fresh.token_generation,
                        error=str(exc),
                    )
                    raise
                time.sleep(delay)
                continue
            return saved
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    # -- reading the store ----------------------------------------------------------------

    def _reread_row(self) -> ConnectionRecord:
        fresh = self._store.get_connection(self._connection.id)
        if fresh is None:
            raise PermanentError("the connection no longer exists", system=SYSTEM)
        return fresh

    def _reread(self) -> ConnectionRecord:
        """The stored connection; GrantGone when it has no grant to refresh (never installed,
        or disconnected)."""
        fresh = self._reread_row()
        if not fresh.ghl_token or not fresh.ghl_refresh_token:
            self._connection = fresh
            raise GrantGone(
                f"the connection has no OAuth grant ({fresh.status}"
                + (f": {fresh.status_reason})" if fresh.status_reason else ")"),
                system=SYSTEM,
            )
        return fresh

    def _expires_within(self, connection: ConnectionRecord, margin: timedelta) -> bool:
        expires_at = connection.token_expires_at
        return expires_at is not None and expires_at - margin <= self._clock()

    def _log(self, outcome: str, fields: dict[str, Any], **extra: Any) -> None:
        line = {
            "generation": self._connection.token_generation,
            **fields,
            "outcome": outcome,
            **extra,
        }
        if outcome in (OUTCOME_REFRESHED, OUTCOME_ADOPTED, OUTCOME_NOT_DUE):
            log.info("ghl.token_refresh", **line)
        elif outcome == OUTCOME_RETRY:
            log.warning("ghl.token_refresh", **line)
        else:
            log.error("ghl.token_refresh", **line)


# -- agency (Company) grants --------------------------------------------------------------


def refresh_agency(
    store: Store,
    redis_client: redis.Redis[bytes],
    oauth_factory: OAuthFactory,
    settings: Settings,
    company_id: str,
    *,
    rejected: str | None = None,
    clock: Clock | None = None,
) -> GhlAgencyRecord:
    """The agency's grant with an access token fit to mint location tokens with.

    Refreshed, under the agency's own lock and re-read after it, when the stored token is
    ``rejected`` or expires within a minute; another process's refresh is used when it came
    first. AuthError when there is no grant or GHL refuses it for good (the agency must
    install the app again), RetryableError when it cannot be done now.
    """
    fields: dict[str, Any] = {"company_id": company_id}
    with single_flight(
        redis_client, agency_lock_key(company_id), settings.ghl_refresh_lock_seconds
    ) as waited:
        fields["waited_ms"] = waited.ms
        agency = store.get_agency(company_id)
        if agency is None:
            raise AuthError(
                f"no grant for agency {company_id}: install the app for it", system=SYSTEM
            )
        expiring = agency.token_expires_at - EXPIRY_SKEW <= (clock or _utc_now)()
        if agency.access_token != rejected and not expiring:
            # Fine as it is; when it was not the one rejected, another process refreshed it.
            outcome = OUTCOME_NOT_DUE if rejected is None else OUTCOME_ADOPTED
            log.info("ghl.agency_token_refresh", outcome=outcome, **fields)
            return agency
        try:
            grant = _call_token_endpoint(oauth_factory, agency.refresh_token, USER_TYPE_COMPANY)
        except OAuthGrantError as exc:
            again = store.get_agency(company_id)
            if again is not None and again.refresh_token != agency.refresh_token:
                log.info("ghl.agency_token_refresh", outcome=OUTCOME_ADOPTED, **fields)
                return again
            log.error(
                "ghl.agency_token_refresh", outcome=OUTCOME_NEEDS_REAUTH, error=exc.error, **fields
            )
            raise AuthError(
                f"GHL refused the agency's refresh ({exc.error}): install the app for agency "
                f"{company_id} again",
                system=SYSTEM,
                status=exc.status,
                trace_id=exc.trace_id,
            ) from exc
        except RetryableError as exc:
            log.warning("ghl.agency_token_refresh", outcome=OUTCOME_RETRY, error=str(exc), **fields)
            raise
        saved = store.save_agency(
            company_id,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=grant.expires_at,
            scopes=grant.scopes or agency.scopes,
            approved_locations=grant.approved_locations or agency.approved_locations,
        )
        log.info("ghl.agency_token_refresh", outcome=OUTCOME_REFRESHED, **fields)
        return saved


# -- shared pieces ------------------------------------------------------------------------


@dataclass
class Waited:
    """How long a `single_flight` waited for its lock."""

    ms: float = 0.0


@contextlib.contextmanager
def single_flight(redis_client: redis.Redis[bytes], key: str, seconds: float) -> Iterator[Waited]:
    """Hold the Redis lock ``key`` for the block: it expires after ``seconds`` and is waited
    for as long. RetryableError when it stays taken, or Redis does not answer.
    """
    lock = Lock(
        redis_client,
        key,
        timeout=seconds,
        sleep=LOCK_POLL_SECONDS,
        blocking_timeout=seconds,
    )
    waited = Waited()
    started = time.perf_counter()
    try:
        acquired = lock.acquire()
    except redis.exceptions.RedisError as exc:
        raise RetryableError(
            f"cannot take the refresh lock (Redis: {type(exc).__name__}: {exc})", system=SYSTEM
        ) from None
    waited.ms = round((time.perf_counter() - started) * 1000, 1)
    if not acquired:
        raise RetryableError(
            f"the refresh lock stayed taken for {seconds:g} s (another process is refreshing)",
            system=SYSTEM,
        )
    try:
        yield waited
    finally:
        _release(lock, key)


def _release(lock: Lock, key: str) -> None:
    try:
        lock.release()
    except redis.exceptions.LockNotOwnedError:
        # It expired while held: another process may have refreshed meanwhile, and the
        # generation and invalid_grant checks are what kept that safe.
        log.warning("ghl.refresh_lock_expired", lock=key)
    except redis.exceptions.RedisError as exc:
        # Redis is away: the lock runs out by itself after its timeout.
        log.warning("ghl.refresh_lock_not_released", lock=key, error=type(exc).__name__)


def _call_token_endpoint(
    oauth_factory: OAuthFactory, refresh_token: str, user_type: str
) -> TokenGrant:
    """One call of the token endpoint with ``refresh_token``."""
    try:
        oauth = oauth_factory()
    except ValueError as exc:
        # No client id or secret: no refresh can work until they are configured.
        raise AuthError(f"cannot refresh the OAuth token: {exc}", system=SYSTEM) from None
    with oauth:
        return oauth.refresh(refresh_token, user_type=user_type)


def _utc_now() -> datetime:
    return datetime.now(UTC)
