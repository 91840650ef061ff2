"""The token keeper against the sandbox GHL in process, a real Redis and a real store.

Every refresh here is a real `POST /oauth/token` to the sandbox's authorization server, whose
refresh tokens are single-use and whose counts (`GET /_sandbox/oauth`) tell how many refreshes
it granted and how many times a used, revoked or unknown refresh token came back. The store is
SQLite, and PostgreSQL when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import redis
from flask import Flask

from ghl.client import GHLClient
from ghl.endpoints import OAUTH_SCOPES
from ghl.oauth import GHLOAuth, TokenGrant
from sandbox.ghl import (
    DEFAULT_LOCATION,
    DEFAULT_TOKEN,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    create_sandbox_ghl_app,
)
from socialbridge.config import Settings
from socialbridge.embedded_redis import free_port
from socialbridge.errors import AuthError, PermanentError, RetryableError
from socialbridge.logs import TextFormatter
from store import ConnectionRecord, ConnectionStatus, GhlAuth, Store
from tests.dbutil import Database
from tests.unit.workers.conftest import make_settings
from workers.ghl_tokens import (
    GrantGone,
    TokenKeeper,
    agency_lock_key,
    lock_key,
    refresh_agency,
)
from workers.services import Services
from workers.token_refresh import refresh_due_tokens

GHL_URL = "http://ghl.sandbox"
REDIRECT_URI = "https://bridge.example/oauth/ghl/callback"


@dataclass
class Sandbox:
    """The sandbox GHL app, and HTTP to it through `httpx.WSGITransport`."""

    app: Flask
    transport: httpx.WSGITransport

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=GHL_URL, transport=self.transport)

    def oauth(self, client_secret: str = SANDBOX_CLIENT_SECRET) -> GHLOAuth:
        """A token-endpoint client that closes its own httpx client (as the keeper's do)."""
        http = self.http()
        oauth = GHLOAuth(http, client_id=SANDBOX_CLIENT_ID, client_secret=client_secret)
        oauth.close = http.close  # type: ignore[method-assign]
        return oauth

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        answer = self.app.test_client().open(f"/_sandbox{path}", method=method, json=json)
        assert answer.status_code < 300, answer.get_json()
        return answer.get_json()

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.admin("GET", "/oauth")["counts"]
        return counts

    def install(self, location_id: str | None = DEFAULT_LOCATION) -> TokenGrant:
        """The install page's redirect, then its code exchanged: a Location (or agency) grant."""
        query = {
            "response_type": "code",
            "client_id": SANDBOX_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": " ".join((*OAUTH_SCOPES, "oauth.write")),
            "state": "state-1",
            "approve": "1",
        }
        query.update({"agency": "1"} if location_id is None else {"location_id": location_id})
        with self.http() as http:
            chosen = http.get(f"/v2/oauth/chooselocation?{urlencode(query)}")
        assert chosen.status_code == 302, chosen.text
        code = parse_qs(urlsplit(chosen.headers["Location"]).query)["code"][0]
        with self.oauth() as oauth:
            return oauth.exchange_code(
                code,
                redirect_uri=REDIRECT_URI,
                user_type="Company" if location_id is None else "Location",
            )


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    app = create_sandbox_ghl_app(rate_limit=100_000)
    transport = httpx.WSGITransport(app=app)
    yield Sandbox(app, transport)
    transport.close()


@pytest.fixture
def settings(migrated_database: Database, redis_url: str) -> Settings:
    return make_settings(
        migrated_database[0],
        redis_url=redis_url,
        ghl_base_url=GHL_URL,
        ghl_client_id=SANDBOX_CLIENT_ID,
        ghl_client_secret=SANDBOX_CLIENT_SECRET,
        ghl_refresh_lock_seconds=5,
    )


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis[bytes]]:
    client: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """Every log line of the test as the text formatter writes it (fields included)."""
    caplog.set_level(logging.DEBUG)
    formatter = TextFormatter()
    return lambda: "\n".join(formatter.format(record) for record in caplog.records)


class Bridge:
    """What a test moves: OAuth connections installed at the sandbox, and keepers for them."""

    def __init__(
        self,
        store: Store,
        redis_client: redis.Redis[bytes],
        settings: Settings,
        sandbox: Sandbox,
    ) -> None:
        self.store = store
        self.redis = redis_client
        self.settings = settings
        self.sandbox = sandbox
        # Every token the test saw, to look for in the logs.
        self.tokens: set[str] = set()

    def connection(self, name: str = "oauth-acme", *, install: bool = True) -> ConnectionRecord:
        created = self.store.create_connection(
            name=name,
            location_id="",
            ghl_token="",
            ghl_auth=GhlAuth.OAUTH,
            crm_url="http://crm.test/hooks/acme",
        )
        if not install:
            return created
        return self.save(created.id, self.sandbox.install(), authorized=True)

    def save(self, connection_id: str, grant: TokenGrant, *, authorized: bool) -> ConnectionRecord:
        self.tokens.update((grant.access_token, grant.refresh_token))
        saved, _ = self.store.save_oauth_tokens(
            connection_id,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=grant.expires_at,
            scopes=grant.scopes,
            location_id=grant.location_id or DEFAULT_LOCATION,
            company_id=grant.company_id,
            authorized=authorized,
        )
        return saved

    def keeper(
        self,
        connection: ConnectionRecord,
        *,
        oauth_factory: Callable[[], GHLOAuth] | None = None,
        redis_client: redis.Redis[bytes] | None = None,
        settings: Settings | None = None,
    ) -> TokenKeeper:
        return TokenKeeper(
            self.store,
            redis_client or self.redis,
            oauth_factory or self.sandbox.oauth,
            settings or self.settings,
            connection,
        )

    def stored(self, connection_id: str) -> ConnectionRecord:
        found = self.store.get_connection(connection_id)
        assert found is not None
        self.tokens.add(found.ghl_token)
        if found.ghl_refresh_token:
            self.tokens.add(found.ghl_refresh_token)
        return found

    def works(self, token: str) -> bool:
        """True when the sandbox takes ``token`` on a Social Planner call."""
        with self.sandbox.http() as http:
            return bool(GHLClient(http, token=token).list_accounts(DEFAULT_LOCATION))


@pytest.fixture
def bridge(
    store: Store,
    redis_client: redis.Redis[bytes],
    settings: Settings,
    sandbox: Sandbox,
    logs: Callable[[], str],
) -> Iterator[Bridge]:
    made = Bridge(store, redis_client, settings, sandbox)
    yield made
    # Whatever the test did, no token reached a log line.
    text = logs()
    leaked = [token for token in made.tokens if token and token in text]
    assert leaked == [], "a token reached the logs"


def _in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at once; their results (or exceptions)."""
    results: list[Any] = [None] * count
    start = threading.Barrier(count)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # returned for the test to look at
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


# -- exactly once --------------------------------------------------------------------------


def test_many_threads_meeting_an_expired_token_refresh_it_once(bridge: Bridge) -> None:
    connection = bridge.connection()
    first = connection.ghl_token
    bridge.sandbox.admin("POST", "/oauth/expire", {"location_id": DEFAULT_LOCATION})
    bridge.sandbox.admin("DELETE", "/oauth/counts")

    def one_event(_: int) -> int:
        # Each event reads the connection and builds its own client and keeper.
        keeper = bridge.keeper(bridge.stored(connection.id))
        with bridge.sandbox.http() as http:
            return len(GHLClient(http, token=keeper).list_accounts(DEFAULT_LOCATION))

    results = _in_threads(16, one_event)

    assert all(isinstance(result, int) and result > 0 for result in results), results
    counts = bridge.sandbox.counts()
    assert counts.get("refresh_grants") == 1
    assert counts.get("token_calls") == 1
    assert counts.get("refresh_reuses", 0) == 0
    stored = bridge.stored(connection.id)
    assert stored.token_generation == connection.token_generation + 1
    assert stored.ghl_token != first
    assert stored.last_refresh_at is not None
    assert stored.status == ConnectionStatus.ACTIVE
    assert bridge.works(stored.ghl_token)


def test_keepers_refreshing_at_once_get_the_same_new_token(bridge: Bridge) -> None:
    connection = bridge.connection()
    bridge.sandbox.admin("DELETE", "/oauth/counts")

    tokens = _in_threads(
        12, lambda _: bridge.keeper(connection).refresh(rejected=connection.ghl_token)
    )

    stored = bridge.stored(connection.id)
    assert tokens == [stored.ghl_token] * 12
    assert bridge.sandbox.counts().get("refresh_grants") == 1
    assert bridge.sandbox.counts().get("refresh_reuses", 0) == 0


def test_a_keeper_that_waited_for_the_lock_uses_what_the_holder_saved(
    bridge: Bridge, logs: Callable[[], str]
) -> None:
    connection = bridge.connection()
    keeper = bridge.keeper(connection)
    # Another process holds the lock and is refreshing.
    holder = bridge.redis.lock(lock_key(connection.id), timeout=10)
    assert holder.acquire(blocking=False)
    answer: list[str | None] = []
    waiting = threading.Thread(target=lambda: answer.append(keeper.refresh(connection.ghl_token)))
    waiting.start()
    time.sleep(0.3)
    assert answer == []  # still waiting for the lock
    with bridge.sandbox.oauth() as oauth:
        grant = oauth.refresh(str(connection.ghl_refresh_token))
    saved = bridge.save(connection.id, grant, authorized=False)
    bridge.sandbox.admin("DELETE", "/oauth/counts")
    holder.release()
    waiting.join(timeout=10)

    assert answer == [saved.ghl_token]
    # It read the connection again after the lock: no second refresh.
    assert bridge.sandbox.counts().get("token_calls", 0) == 0
    assert keeper.connection.token_generation == saved.token_generation
    assert "outcome=adopted" in logs()


def test_the_new_pair_is_saved_before_the_lock_is_released(bridge: Bridge) -> None:
    connection = bridge.connection()
    seen_while_locked: list[int] = []

    def oauth_factory() -> GHLOAuth:
        oauth = bridge.sandbox.oauth()
        real_refresh = oauth.refresh

        def refresh(refresh_token: str, *, user_type: str = "Location") -> TokenGrant:
            grant = real_refresh(refresh_token, user_type=user_type)
            assert bridge.redis.exists(lock_key(connection.id))
            return grant

        oauth.refresh = refresh  # type: ignore[method-assign]
        return oauth

    keeper = bridge.keeper(connection, oauth_factory=oauth_factory)
    original_save = bridge.store.save_oauth_tokens

    def save(*args: Any, **kwargs: Any) -> Any:
        seen_while_locked.append(int(bridge.redis.exists(lock_key(connection.id))))
        return original_save(*args, **kwargs)

    bridge.store.save_oauth_tokens = save  # type: ignore[method-assign]
    try:
        new = keeper.refresh(connection.ghl_token)
    finally:
        del bridge.store.save_oauth_tokens

    assert seen_while_locked == [1]
    assert not bridge.redis.exists(lock_key(connection.id))
    assert new == bridge.stored(connection.id).ghl_token


def test_a_token_expiring_within_a_minute_is_refreshed_before_it_is_sent(bridge: Bridge) -> None:
    bridge.sandbox.admin("POST", "/oauth/settings", {"access_token_seconds": 30})
    connection = bridge.connection()
    bridge.sandbox.admin("POST", "/oauth/settings", {"access_token_seconds": 86_400})
    bridge.sandbox.admin("DELETE", "/oauth/counts")
    keeper = bridge.keeper(connection)

    token = keeper.current()

    stored = bridge.stored(connection.id)
    assert token == stored.ghl_token != connection.ghl_token
    assert bridge.sandbox.counts().get("refresh_grants") == 1
    # Fresh for a day now: the next request sends it as it is.
    assert keeper.current() == token
    assert bridge.sandbox.counts().get("token_calls") == 1


def test_a_token_far_from_expiry_is_sent_without_asking_anyone(bridge: Bridge) -> None:
    connection = bridge.connection()
    bridge.sandbox.admin("DELETE", "/oauth/counts")
    unreachable: redis.Redis[bytes] = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    keeper = bridge.keeper(connection, redis_client=unreachable)

    assert keeper.current() == connection.ghl_token
    assert bridge.sandbox.counts().get("token_calls", 0) == 0


def test_an_expiring_token_is_still_used_when_the_refresh_must_wait(bridge: Bridge) -> None:
    bridge.sandbox.admin("POST", "/oauth/settings", {"access_token_seconds": 30})
    connection = bridge.connection()
    fault = {"path_contains": "/oauth/token", "status": 503, "times": 1}
    bridge.sandbox.admin("POST", "/faults", fault)

    # Not expired yet: worth sending; a 401 would refresh again.
    assert bridge.keeper(connection).current() == connection.ghl_token
    assert bridge.stored(connection.id).token_generation == connection.token_generation


# -- GHL's refusals ------------------------------------------------------------------------


def test_invalid_grant_with_a_newer_pair_stored_uses_it(bridge: Bridge) -> None:
    """Another process rotated the pair without the lock (it had expired under it): our
    refresh token is used up, but the pair it got is in the store."""
    connection = bridge.connection()
    rotated: list[ConnectionRecord] = []

    def oauth_factory() -> GHLOAuth:
        # Between our read under the lock and our call: the other process refreshes and saves.
        with bridge.sandbox.oauth() as other:
            grant = other.refresh(str(connection.ghl_refresh_token))
        rotated.append(bridge.save(connection.id, grant, authorized=False))
        bridge.sandbox.admin("DELETE", "/oauth/counts")
        return bridge.sandbox.oauth()

    keeper = bridge.keeper(connection, oauth_factory=oauth_factory)

    token = keeper.refresh(connection.ghl_token)

    assert token == rotated[0].ghl_token
    counts = bridge.sandbox.counts()
    assert counts.get("refresh_reuses") == 1  # ours: refused, and the reason we re-read
    stored = bridge.stored(connection.id)
    assert stored.status == ConnectionStatus.ACTIVE
    assert stored.token_generation == rotated[0].token_generation
    assert bridge.works(token)


def test_invalid_grant_with_nothing_newer_needs_reauth(bridge: Bridge) -> None:
    connection = bridge.connection()
    bridge.sandbox.admin("POST", "/oauth/revoke", {"location_id": DEFAULT_LOCATION})
    bridge.sandbox.admin("DELETE", "/oauth/counts")

    with pytest.raises(GrantGone, match="invalid_grant") as refused:
        bridge.keeper(connection).refresh(connection.ghl_token)

    assert isinstance(refused.value, AuthError)
    stored = bridge.stored(connection.id)
    assert stored.status == ConnectionStatus.NEEDS_REAUTH
    assert stored.status_reason is not None
    assert "invalid_grant" in stored.status_reason
    assert "re-authorize" in stored.status_reason
    assert stored.token_generation == connection.token_generation
    assert bridge.sandbox.counts().get("revoked_refresh_tokens") == 1

    # The next keeper knows without spending the dead refresh token again.
    with pytest.raises(GrantGone, match="needs re-authorization"):
        bridge.keeper(connection).refresh(connection.ghl_token)
    assert bridge.sandbox.counts().get("token_calls") == 1


def test_a_reinstall_while_a_refresh_is_refused_keeps_the_connection_active(
    bridge: Bridge,
) -> None:
    connection = bridge.connection()
    bridge.sandbox.admin("POST", "/oauth/revoke", {"location_id": DEFAULT_LOCATION})
    reinstalled: list[ConnectionRecord] = []
    original_mark = bridge.store.mark_needs_reauth

    def mark(*args: Any, **kwargs: Any) -> bool:
        # The user completes a new install just before the refusal is written down.
        reinstalled.append(bridge.save(connection.id, bridge.sandbox.install(), authorized=True))
        return original_mark(*args, **kwargs)

    bridge.store.mark_needs_reauth = mark  # type: ignore[method-assign]
    try:
        token = bridge.keeper(connection).refresh(connection.ghl_token)
    finally:
        del bridge.store.mark_needs_reauth

    assert token == reinstalled[0].ghl_token
    stored = bridge.stored(connection.id)
    assert stored.status == ConnectionStatus.ACTIVE
    assert bridge.works(token)


def test_invalid_client_needs_reauth(bridge: Bridge) -> None:
    connection = bridge.connection()
    keeper = bridge.keeper(connection, oauth_factory=lambda: bridge.sandbox.oauth("wrong-secret"))

    with pytest.raises(GrantGone, match="invalid_client"):
        keeper.refresh(connection.ghl_token)

    stored = bridge.stored(connection.id)
    assert stored.status == ConnectionStatus.NEEDS_REAUTH
    assert stored.status_reason is not None
    assert "invalid_client" in stored.status_reason
    assert "wrong-secret" not in stored.status_reason
    # The refresh token was never spent: the client was refused first.
    assert bridge.sandbox.counts().get("refresh_grants", 0) == 0


def test_a_server_error_is_retryable_and_the_connection_stays_active(
    bridge: Bridge, logs: Callable[[], str]
) -> None:
    connection = bridge.connection()
    bridge.sandbox.admin(
        "POST", "/faults", {"path_contains": "/oauth/token", "status": 503, "times": 1}
    )
    keeper = bridge.keeper(connection)

    with pytest.raises(RetryableError):
        keeper.refresh(connection.ghl_token)

    stored = bridge.stored(connection.id)
    assert (stored.status, stored.token_generation) == ("active", connection.token_generation)
    assert "outcome=retry" in logs()
    # The refresh token was not used up: the next attempt refreshes.
    token = keeper.refresh(connection.ghl_token)
    assert token == bridge.stored(connection.id).ghl_token != connection.ghl_token


def test_a_lock_held_too_long_is_retryable(bridge: Bridge) -> None:
    connection = bridge.connection()
    holder = bridge.redis.lock(lock_key(connection.id), timeout=30)
    assert holder.acquire(blocking=False)
    quick = bridge.settings.replace(ghl_refresh_lock_seconds=1)
    started = time.monotonic()
    try:
        with pytest.raises(RetryableError, match="lock"):
            bridge.keeper(connection, settings=quick).refresh(connection.ghl_token)
    finally:
        holder.release()

    assert 0.9 <= time.monotonic() - started < 5
    assert bridge.sandbox.counts().get("refresh_grants", 0) == 0


def test_redis_away_is_retryable(bridge: Bridge) -> None:
    connection = bridge.connection()
    unreachable: redis.Redis[bytes] = redis.Redis(port=free_port(), socket_connect_timeout=0.5)

    with pytest.raises(RetryableError, match="Redis"):
        bridge.keeper(connection, redis_client=unreachable).refresh(connection.ghl_token)

    assert bridge.stored(connection.id).status == ConnectionStatus.ACTIVE


def test_no_client_credentials_is_an_auth_error_that_leaves_the_grant_alone(
    bridge: Bridge, migrated_database: Database
) -> None:
    connection = bridge.connection()
    unconfigured = make_settings(
        migrated_database[0], redis_url=bridge.settings.redis_url, ghl_base_url=GHL_URL
    )
    keeper = bridge.keeper(connection, oauth_factory=lambda: GHLOAuth.from_settings(unconfigured))

    with pytest.raises(AuthError, match="GHL_CLIENT_ID") as refused:
        keeper.refresh(connection.ghl_token)

    assert not isinstance(refused.value, GrantGone)
    assert bridge.stored(connection.id).status == ConnectionStatus.ACTIVE


def test_a_connection_without_a_grant_is_not_refreshed(bridge: Bridge) -> None:
    connection = bridge.connection()
    bridge.store.disconnect_connection(connection.id, "disconnected by the user")
    bridge.sandbox.admin("DELETE", "/oauth/counts")

    with pytest.raises(GrantGone, match="disconnected"):
        bridge.keeper(connection).refresh(connection.ghl_token)
    assert bridge.sandbox.counts().get("token_calls", 0) == 0


def test_a_removed_connection_is_permanent(bridge: Bridge) -> None:
    connection = bridge.connection()
    bridge.store.delete_connection(connection.id)
    with pytest.raises(PermanentError, match="no longer exists"):
        bridge.keeper(connection).refresh(connection.ghl_token)


def test_a_pit_connection_is_never_refreshed(bridge: Bridge) -> None:
    pit = bridge.store.create_connection(
        name="pit", location_id=DEFAULT_LOCATION, ghl_token=DEFAULT_TOKEN, crm_url="http://c.test"
    )
    keeper = bridge.keeper(pit)
    assert keeper.current() == DEFAULT_TOKEN
    assert keeper.refresh(DEFAULT_TOKEN) is None
    assert keeper.refresh_ahead(timedelta(days=1)) == "not_due"


def test_refresh_logs_say_what_happened_without_tokens(
    bridge: Bridge, logs: Callable[[], str]
) -> None:
    connection = bridge.connection()
    bridge.keeper(connection).refresh(connection.ghl_token)
    bridge.stored(connection.id)

    lines = [line for line in logs().splitlines() if "ghl.token_refresh " in line]
    assert len(lines) == 1
    assert f"connection_id={connection.id}" in lines[0]
    assert f"generation={connection.token_generation + 1}" in lines[0]
    assert "outcome=refreshed" in lines[0]
    assert "waited_ms=" in lines[0]
    assert "sbx-" not in logs()  # no sandbox token, code or refresh token, in any line


# -- wired into Services -------------------------------------------------------------------


def test_services_give_an_oauth_connection_a_refreshing_client(
    bridge: Bridge, sandbox: Sandbox
) -> None:
    connection = bridge.connection()
    sandbox.admin("POST", "/oauth/expire", {"location_id": DEFAULT_LOCATION})
    services = Services(bridge.settings, store=bridge.store, ghl_transport=sandbox.transport)
    try:
        with services.ghl_for(connection) as ghl:
            assert ghl.list_accounts(DEFAULT_LOCATION)
        pit = bridge.store.create_connection(
            name="pit", location_id=DEFAULT_LOCATION, ghl_token=DEFAULT_TOKEN, crm_url=""
        )
        with services.ghl_for(pit) as ghl:
            assert ghl.list_accounts(DEFAULT_LOCATION)
        assert services.redis is services.redis  # one per process
    finally:
        services.dispose()

    assert bridge.sandbox.counts().get("refresh_grants") == 1
    assert bridge.stored(connection.id).token_generation == connection.token_generation + 1


# -- ahead of expiry (beat) ----------------------------------------------------------------


def test_beat_refreshes_what_expires_within_the_margin(bridge: Bridge, sandbox: Sandbox) -> None:
    sandbox.admin("POST", "/oauth/settings", {"access_token_seconds": 300})
    due = bridge.connection("due")
    sandbox.admin("POST", "/oauth/settings", {"access_token_seconds": 86_400})
    fresh = bridge.connection("fresh")
    services = Services(bridge.settings, store=bridge.store, ghl_transport=sandbox.transport)
    sandbox.admin("DELETE", "/oauth/counts")
    try:
        counts = refresh_due_tokens(services, now=datetime.now(UTC))
        again = refresh_due_tokens(services, now=datetime.now(UTC))
    finally:
        services.dispose()

    assert counts == {"refreshed": 1}
    assert again == {}  # nothing due any more
    assert sandbox.counts().get("refresh_grants") == 1
    assert bridge.stored(due.id).token_generation == due.token_generation + 1
    assert bridge.stored(fresh.id).token_generation == fresh.token_generation


def test_beat_goes_on_past_a_connection_that_fails(bridge: Bridge, sandbox: Sandbox) -> None:
    sandbox.admin("POST", "/oauth/settings", {"access_token_seconds": 300})
    first = bridge.connection("first")
    second = bridge.connection("second")
    third = bridge.connection("third")
    # The first one's refresh token is spent by someone who never saved what they got.
    with sandbox.oauth() as oauth:
        bridge.tokens.add(oauth.refresh(str(first.ghl_refresh_token)).refresh_token)
    # The second one waits for a lock nobody releases.
    holder = bridge.redis.lock(lock_key(second.id), timeout=30)
    assert holder.acquire(blocking=False)
    quick = bridge.settings.replace(ghl_refresh_lock_seconds=1)
    services = Services(quick, store=bridge.store, ghl_transport=sandbox.transport)
    try:
        counts = refresh_due_tokens(services, now=datetime.now(UTC))
    finally:
        holder.release()
        services.dispose()

    assert counts == {"needs_reauth": 1, "failed": 1, "refreshed": 1}
    assert bridge.stored(first.id).status == ConnectionStatus.NEEDS_REAUTH
    assert bridge.stored(second.id).status == ConnectionStatus.ACTIVE
    assert bridge.stored(third.id).token_generation == third.token_generation + 1


def test_beat_leaves_for_the_next_run_what_its_budget_does_not_reach(
    bridge: Bridge, sandbox: Sandbox
) -> None:
    sandbox.admin("POST", "/oauth/settings", {"access_token_seconds": 300})
    for name in ("one", "two"):
        bridge.connection(name)
    services = Services(bridge.settings, store=bridge.store, ghl_transport=sandbox.transport)
    try:
        counts = refresh_due_tokens(services, now=datetime.now(UTC), budget=-1)
    finally:
        services.dispose()
    assert counts == {"left": 2}


def test_ahead_of_expiry_a_refresh_another_process_made_is_used(bridge: Bridge) -> None:
    bridge.sandbox.admin("POST", "/oauth/settings", {"access_token_seconds": 300})
    connection = bridge.connection()
    bridge.sandbox.admin("POST", "/oauth/settings", {"access_token_seconds": 86_400})
    # Another process refreshed (after a 401) since this keeper read the connection.
    bridge.keeper(connection).refresh(connection.ghl_token)
    bridge.sandbox.admin("DELETE", "/oauth/counts")
    keeper = bridge.keeper(connection)

    assert keeper.refresh_ahead(timedelta(minutes=10)) == "adopted"
    assert keeper.refresh_ahead(timedelta(minutes=10)) == "not_due"
    assert keeper.connection == bridge.stored(connection.id)
    assert bridge.sandbox.counts().get("token_calls", 0) == 0


# -- agency grants -------------------------------------------------------------------------


def _agency(bridge: Bridge) -> str:
    grant = bridge.sandbox.install(location_id=None)
    assert grant.company_id is not None
    bridge.tokens.update((grant.access_token, grant.refresh_token))
    bridge.store.save_agency(
        grant.company_id,
        access_token=grant.access_token,
        refresh_token=grant.refresh_token,
        expires_at=grant.expires_at,
        scopes=grant.scopes,
        approved_locations=grant.approved_locations,
    )
    return grant.company_id


def _refresh_agency(bridge: Bridge, company_id: str, rejected: str | None) -> Any:
    return refresh_agency(
        bridge.store,
        bridge.redis,
        bridge.sandbox.oauth,
        bridge.settings,
        company_id,
        rejected=rejected,
    )


def test_an_agency_token_is_refreshed_once_for_many(bridge: Bridge) -> None:
    company_id = _agency(bridge)
    before = bridge.store.get_agency(company_id)
    assert before is not None
    bridge.sandbox.admin("DELETE", "/oauth/counts")

    results = _in_threads(8, lambda _: _refresh_agency(bridge, company_id, before.access_token))

    after = bridge.store.get_agency(company_id)
    assert after is not None
    bridge.tokens.update((after.access_token, after.refresh_token))
    assert [r.access_token for r in results] == [after.access_token] * 8
    assert after.access_token != before.access_token
    assert after.approved_locations == before.approved_locations
    assert bridge.sandbox.counts().get("refresh_grants") == 1
    assert bridge.sandbox.counts().get("refresh_reuses", 0) == 0
    # A location token can be minted with it.
    with bridge.sandbox.oauth() as oauth:
        minted = oauth.location_token(
            after.access_token, company_id=company_id, location_id=DEFAULT_LOCATION
        )
    bridge.tokens.update((minted.access_token, minted.refresh_token))
    assert bridge.works(minted.access_token)


def test_an_agency_token_not_due_is_left_alone(bridge: Bridge) -> None:
    company_id = _agency(bridge)
    bridge.sandbox.admin("DELETE", "/oauth/counts")
    stored = bridge.store.get_agency(company_id)
    assert _refresh_agency(bridge, company_id, None) == stored
    assert bridge.sandbox.counts().get("token_calls", 0) == 0
    assert not bridge.redis.exists(agency_lock_key(company_id))


def test_an_agency_grant_refused_for_good_is_an_auth_error(bridge: Bridge) -> None:
    company_id = _agency(bridge)
    stored = bridge.store.get_agency(company_id)
    assert stored is not None
    with bridge.sandbox.oauth() as oauth:  # spent by someone who never saved the new pair
        bridge.tokens.add(oauth.refresh(stored.refresh_token, user_type="Company").refresh_token)

    with pytest.raises(AuthError, match="install the app for agency"):
        _refresh_agency(bridge, company_id, stored.access_token)
    with pytest.raises(AuthError, match="no grant"):
        _refresh_agency(bridge, "comp_unknown", None)
