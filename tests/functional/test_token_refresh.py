"""An OAuth connection's token refreshed exactly once by many workers, and a grant lost for good.

The stack of this module is its own: a redis-server, a store (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set), the sandbox GHL and CRM and the web app over real HTTP in this
process, and three `celery -A workers worker` subprocesses, each with its own prefork child,
so that events really run in several processes at once. The connection is installed the way
a user does it: the sandbox's chooselocation page, then its code exchanged at /oauth/token.

The sandbox's authorization server makes refresh tokens single-use and counts every reuse;
its journal keeps a fingerprint of every refresh token sent.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from ghl.endpoints import OAUTH_SCOPES
from ghl.oauth import GHLOAuth, TokenGrant
from sandbox.crm.app import create_sandbox_crm_app
from sandbox.ghl import (
    DEFAULT_LOCATION,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    create_sandbox_ghl_app,
)
from sandbox.server import ServerThread
from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis
from socialbridge.logs import TextFormatter
from store import ConnectionRecord, EventRecord, GhlAuth, Store
from tests.dbutil import database_kinds, temporary_database
from tests.functional.harness import System, Worker
from webapp import create_app
from workers.release import enqueue_released

WORKERS = 3
EVENTS = 20
ROUNDS = 20
REDIRECT_PATH = "/oauth/ghl/callback"


@dataclass
class Stack:
    """The running parts of this module, and every token they were handed (for the logs)."""

    system: System
    workers: list[Worker]
    web_app: Any
    tokens: set[str] = field(default_factory=set)

    @property
    def ghl_url(self) -> str:
        return self.system.ghl_url

    def ghl_admin(self, method: str, path: str, json: Any = None) -> Any:
        answer = self.system.http.request(method, f"{self.ghl_url}/_sandbox{path}", json=json)
        assert answer.is_success, answer.text
        return answer.json()

    def oauth_counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.ghl_admin("GET", "/oauth")["counts"]
        return counts

    def install(self, connection: ConnectionRecord) -> tuple[ConnectionRecord, list[EventRecord]]:
        """A user installs the app for the demo location: the chooselocation page redirects
        with a code, the code is exchanged, and the pair saved as the OAuth callback does."""
        redirect_uri = f"{self.system.web_url}{REDIRECT_PATH}"
        state = secrets.token_urlsafe(8)
        query = {
            "response_type": "code",
            "client_id": SANDBOX_CLIENT_ID,
            "redirect_uri": redirect_uri,
            "scope": " ".join(OAUTH_SCOPES),
            "state": state,
            "location_id": DEFAULT_LOCATION,
            "approve": "1",
        }
        chosen = self.system.http.get(f"{self.ghl_url}/v2/oauth/chooselocation?{urlencode(query)}")
        assert chosen.status_code == 302, chosen.text
        back = parse_qs(urlsplit(chosen.headers["Location"]).query)
        assert back["state"] == [state]
        with httpx.Client(base_url=self.ghl_url, timeout=10) as http:
            oauth = GHLOAuth(http, client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET)
            grant = oauth.exchange_code(back["code"][0], redirect_uri=redirect_uri)
        return self.save(connection, grant)

    def save(
        self, connection: ConnectionRecord, grant: TokenGrant
    ) -> tuple[ConnectionRecord, list[EventRecord]]:
        self.tokens.update((grant.access_token, grant.refresh_token))
        return self.system.store.save_oauth_tokens(
            connection.id,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=grant.expires_at,
            scopes=grant.scopes,
            location_id=str(grant.location_id),
            company_id=grant.company_id,
            authorized=True,
        )

    def stored(self, connection_id: str) -> ConnectionRecord:
        found = self.system.store.get_connection(connection_id)
        assert found is not None
        self.tokens.update(t for t in (found.ghl_token, found.ghl_refresh_token) if t)
        return found

    def send_at_once(self, connection: ConnectionRecord, label: str, count: int) -> list[str]:
        """``count`` post.published events sent at the same moment; their event ids."""

        def send(n: int) -> str:
            answer = self.system.send(connection, "post.published", {"post_id": f"{label}-{n}"})
            assert answer.status_code == 202, answer.text
            return str(answer.json()["event_id"])

        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(send, range(count)))

    def wait_all(
        self,
        event_ids: list[str],
        until: Callable[[EventRecord], bool] = lambda e: e.status in ("done", "dead"),
        timeout: float = 60.0,
    ) -> list[EventRecord]:
        return [self.system.wait_for(event_id, until, timeout=timeout) for event_id in event_ids]

    def worker_logs(self) -> list[str]:
        return [w.log_path.read_text(errors="replace") for w in self.workers]

    def ran_in(self, event_ids: list[str]) -> set[int]:
        """Which workers (by index) started an attempt of any of ``event_ids``."""
        ran = set()
        for index, text in enumerate(self.worker_logs()):
            started = [line for line in text.splitlines() if "event.started" in line]
            if any(f"event_id={event_id}" in line for line in started for event_id in event_ids):
                ran.add(index)
        return ran

    def refresh_tokens_sent(self) -> list[str]:
        """Fingerprints of the refresh tokens sent to /oauth/token, in order."""
        entries = self.system.http.get(
            f"{self.ghl_url}/_sandbox/journal", params={"path_contains": "/oauth/token"}
        ).json()
        return [
            entry["body"]["refresh_token"]
            for entry in entries
            if entry["body"].get("grant_type") == "refresh_token"
        ]


@pytest.fixture(scope="module", params=database_kinds())
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    kind: str = request.param
    tmp: Path = tmp_path_factory.mktemp(f"token-refresh-{kind}")
    redis = EmbeddedRedis(tmp / "redis")
    redis.start()
    try:
        with (
            ServerThread(create_sandbox_ghl_app(rate_limit=100_000)) as ghl,
            ServerThread(create_sandbox_crm_app()) as crm,
            temporary_database(kind, tmp, upgrade=True) as (database_url, engine_options),
        ):
            settings = Settings.from_mapping(
                {
                    "database_url": database_url,
                    "redis_url": redis.url,
                    "secret_key": "functional-tests-secret-key",
                    "ghl_base_url": ghl.url,
                    "ghl_client_id": SANDBOX_CLIENT_ID,
                    "ghl_client_secret": SANDBOX_CLIENT_SECRET,
                    "retry_backoff_base": 0.2,
                    "retry_backoff_max": 2.0,
                    "sweep_interval": 0.5,
                    "lease_seconds": 3,
                    "queued_lost_after": 3,
                    "max_attempts": 4,
                    "ghl_timeout": 10.0,
                    "crm_timeout": 10.0,
                    # Every event must call GHL to meet the expired token: a tag list cached
                    # by an earlier round would answer without a call.
                    "tag_cache_ttl": 0,
                }
            )
            store = Store(database_url, settings.secret_key, engine_options=engine_options)
            app = create_app(settings)
            workers = [Worker(settings, tmp / f"worker-{n}.log") for n in range(WORKERS)]
            try:
                for worker in workers:
                    worker.start()
                with ServerThread(app) as web:
                    system = System(
                        settings=settings.replace(public_url=web.url),
                        store=store,
                        web_url=web.url,
                        ghl_url=ghl.url,
                        crm_url=crm.url,
                        worker=workers[0],
                    )
                    yield Stack(system=system, workers=workers, web_app=app)
            finally:
                for worker in workers:
                    worker.stop()
                app.extensions["socialbridge"].dispose()
                store.dispose()
    finally:
        redis.stop()


@pytest.fixture
def oauth_connection(stack: Stack, caplog: pytest.LogCaptureFixture) -> Iterator[ConnectionRecord]:
    """A fresh OAuth connection, installed for the demo location."""
    caplog.set_level(logging.DEBUG)
    # httpcore's DEBUG traces would show the install page's redirect, code included, as this
    # test's HTTP client plays the user's browser there; they are not socialbridge's lines.
    caplog.set_level(logging.INFO, logger="httpcore")
    created = stack.system.new_connection(ghl_auth=GhlAuth.OAUTH, ghl_token="", location_id="")
    installed, released = stack.install(created)
    assert released == []
    assert installed.status == "active"
    yield installed
    # No token, access or refresh, reached a log line of any worker or of this process (the
    # web app, the install).
    stack.stored(installed.id)
    formatter = TextFormatter()
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    # The capture works: the install's token exchange is in it (without its tokens).
    assert any(record.getMessage() == "ghl.oauth" for record in records)
    logs = "\n".join([*stack.worker_logs(), *(formatter.format(r) for r in records)])
    leaked = [token for token in stack.tokens if token in logs]
    assert leaked == [], f"{len(leaked)} tokens reached the worker logs"
    assert not re.search(r"sbx-(at|rt|code)-", logs)


# One round always; the twenty of the issue take about a minute per database.
@pytest.mark.parametrize("rounds", [1, pytest.param(ROUNDS, marks=pytest.mark.slow)])
def test_many_workers_meeting_an_expired_token_refresh_it_exactly_once(
    stack: Stack, oauth_connection: ConnectionRecord, rounds: int
) -> None:
    connection = oauth_connection
    sent_before = len(stack.refresh_tokens_sent())
    for round_number in range(rounds):
        before = stack.stored(connection.id)
        stack.ghl_admin("POST", "/oauth/expire", {"location_id": DEFAULT_LOCATION})
        stack.ghl_admin("DELETE", "/oauth/counts")

        ids = stack.send_at_once(connection, f"r{round_number}", EVENTS)
        events = stack.wait_all(ids)

        where = f"round {round_number}"
        assert [e.status for e in events] == ["done"] * EVENTS, (
            where,
            [e.last_error for e in events],
        )
        counts = stack.oauth_counts()
        assert counts.get("refresh_grants") == 1, (where, counts)
        assert counts.get("token_calls") == 1, (where, counts)
        for refused in ("refresh_reuses", "unknown_refresh_tokens", "revoked_refresh_tokens"):
            assert counts.get(refused, 0) == 0, (where, counts)
        after = stack.stored(connection.id)
        assert after.token_generation == before.token_generation + 1, where
        assert after.status == "active", where
        assert len(stack.ran_in(ids)) >= 2, f"{where}: every event ran in one worker process"

    sent = stack.refresh_tokens_sent()[sent_before:]
    assert len(sent) == rounds
    assert len(set(sent)) == rounds, "a refresh token was sent twice"


def test_a_grant_lost_for_good_holds_the_events_until_the_next_install(
    stack: Stack, oauth_connection: ConnectionRecord
) -> None:
    connection = oauth_connection
    # One round first: the connection works, and its token was refreshed once.
    stack.ghl_admin("POST", "/oauth/expire", {"location_id": DEFAULT_LOCATION})
    warmup = stack.wait_all(stack.send_at_once(connection, "warmup", 5))
    assert [e.status for e in warmup] == ["done"] * 5, [e.last_error for e in warmup]

    # The location's user revokes the app at GHL: every token of it dies.
    stack.ghl_admin("POST", "/oauth/revoke", {"location_id": DEFAULT_LOCATION})
    stack.ghl_admin("DELETE", "/oauth/counts")
    held = stack.send_at_once(connection, "held", 8)
    waiting = stack.wait_all(held, lambda e: e.status in ("waiting", "done", "dead"))

    assert [e.status for e in waiting] == ["waiting"] * 8, [e.last_error for e in waiting]
    lost = stack.stored(connection.id)
    assert lost.status == "needs_reauth"
    assert lost.status_reason is not None
    assert "invalid_grant" in lost.status_reason
    for event in waiting:
        assert event.last_error is not None
        assert "needs_reauth" in event.last_error
    counts = stack.oauth_counts()
    # One process spent the dead refresh token once; the others read that it was gone.
    assert counts.get("revoked_refresh_tokens") == 1, counts
    assert counts.get("token_calls") == 1, counts
    assert counts.get("refresh_reuses", 0) == 0, counts
    # Events that come meanwhile wait too (recorded and answered 202 as usual).
    later = stack.send_at_once(connection, "later", 2)
    stack.wait_all(later, lambda e: e.status == "waiting")

    # The user installs the app again: the waiting events go back on the queue, in order.
    installed, released = stack.install(connection)
    assert installed.status == "active"
    assert sorted(e.id for e in released) == sorted([*held, *later])
    # In the order they came (the eight held ones were sent at the same moment).
    assert [e.created_at for e in released] == sorted(e.created_at for e in released)
    assert {e.id for e in released[-2:]} == set(later)
    assert enqueue_released(stack.web_app.extensions["celery"], released) == len(released)
    finished = stack.wait_all([*held, *later])

    assert [e.status for e in finished] == ["done"] * 10, [e.last_error for e in finished]
    assert stack.oauth_counts().get("refresh_reuses", 0) == 0


def test_beat_task_refreshes_ahead_of_expiry_in_a_worker(
    stack: Stack, oauth_connection: ConnectionRecord
) -> None:
    """`tokens.refresh_due`, as beat sends it every minute, run by a real worker."""
    # Installed with a token that lives 5 minutes: inside the 10-minute margin.
    stack.ghl_admin("POST", "/oauth/settings", {"access_token_seconds": 300})
    try:
        short, _ = stack.install(oauth_connection)
    finally:
        stack.ghl_admin("POST", "/oauth/settings", {"access_token_seconds": 86_400})
    stack.ghl_admin("DELETE", "/oauth/counts")

    stack.web_app.extensions["celery"].send_task("tokens.refresh_due")
    deadline = time.monotonic() + 30
    while stack.stored(short.id).token_generation == short.token_generation:
        assert time.monotonic() < deadline, "\n".join(w.log_tail() for w in stack.workers)
        time.sleep(0.2)

    refreshed = stack.stored(short.id)
    assert refreshed.token_expires_at is not None
    assert short.token_expires_at is not None
    assert refreshed.token_expires_at > short.token_expires_at
    assert refreshed.last_refresh_at is not None
    assert stack.oauth_counts().get("refresh_grants") == 1
    assert any(
        "outcome=refreshed" in text and "trigger=ahead" in text for text in stack.worker_logs()
    )
