"""What a flow needs from the outside world, built once per process from the settings.

Tests hand in httpx transports (for example `httpx.WSGITransport` around a sandbox app) so the
same code runs against in-process sandboxes, real sandbox servers or the real services.

Without one, every client of the process shares one pooled transport per outside system:
building an httpx client loads the CA bundle (20-37 ms, most of an event's own time in
docs/benchmarks.md), and a pool keeps connections to GHL alive between events.

An OAuth connection's client gets its token from a `TokenKeeper` (workers/ghl_tokens.py),
which refreshes under a lock in Redis (`REDIS_URL`): one Redis client per process, built on
first use like the pools, so each forked worker child opens its own connections.

The GHL rate limiter (`ghl.limiter`) keeps its slots in the same Redis. An event run gets a
`Gate` on it (`ghl_gate`) for the GHL client of that run. The limiter guards a GHL reached over
the network; Services given an in-process GHL (``ghl_transport``: a test's or a preview's
sandbox) leave it off unless asked (``rate_limiter=True``), so that no test shares slots with
another through a Redis it did not choose.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence

import httpx
from redis import Redis

from crm.connector import CRMConnector
from crm.registry import build_connector, connector_kind
from ghl.client import GHLClient, TokenSource
from ghl.limiter import Booking, Gate, RateLimiter
from ghl.oauth import GHLOAuth
from mappings import ConnectionMapping, load_mapping
from socialbridge.config import Settings
from store import ConnectionRecord, CrmWriteRecord, GhlAuth, Store
from store.engine import pool_options
from workers.ghl_tokens import TokenKeeper

# httpx's defaults, raised to the number of task threads when that is larger.
HTTP_MAX_CONNECTIONS = 100
HTTP_KEEPALIVE_CONNECTIONS = 20


@functools.lru_cache(maxsize=256)
def _loaded_mapping(text: str, kind: str) -> ConnectionMapping:
    # Parsing YAML and compiling selectors costs far more than an event's own work; the text
    # is the key, so a changed mapping is parsed again on its first use.
    return load_mapping(text, outbound_fields=connector_kind(kind).capabilities.outbound_fields)


def mapping_of(connection: ConnectionRecord) -> ConnectionMapping | None:
    """The connection's mapping, parsed (cached per text); None without one.

    Raises `mappings.MappingInvalid` if the stored text is no longer valid.
    """
    if connection.mapping is None:
        return None
    return _loaded_mapping(connection.mapping, connection.crm_kind)


class StoreLedger:
    """`crm.connector.WriteLedger` on the store, for one connection."""

    def __init__(self, store: Store, connection_id: str) -> None:
        self._store = store
        self._connection_id = connection_id

    def begin(
        self,
        key: str,
        *,
        writeback_type: str,
        contact: str,
        record: Mapping[str, str],
        tags: Sequence[str],
    ) -> CrmWriteRecord:
        return self._store.begin_write(
            self._connection_id,
            key,
            writeback_type=writeback_type,
            contact=contact,
            record=record,
            tags=tags,
        )

    def mark_sent(self, key: str) -> None:
        self._store.mark_write_sent(self._connection_id, key)


class SharedTransport(httpx.BaseTransport):
    """A transport that many short-lived clients use: closing one of them leaves it open."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)

    def close(self) -> None:
        """Left to the owner (Services.dispose), not to each client."""


class Services:
    """Lazily built, process-wide dependencies: the store, GHL clients and CRM connectors."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        ghl_transport: httpx.BaseTransport | None = None,
        crm_transport: httpx.BaseTransport | None = None,
        rate_limiter: bool | None = None,
    ) -> None:
        """``rate_limiter``: use the shared GHL rate limiter (default: unless ``ghl_transport``
        is given); never while GHL_RATE_LIMIT is 0."""
        self.settings = settings
        self._store = store
        self._lock = threading.Lock()
        self.ghl_transport = ghl_transport
        self.crm_transport = crm_transport
        self._pools: dict[str, SharedTransport] = {}
        self._redis: Redis[bytes] | None = None
        if rate_limiter is None:
            rate_limiter = ghl_transport is None
        self._rate_limited = rate_limiter and settings.ghl_rate_limit > 0
        self._limiter: RateLimiter | None = None

    @property
    def store(self) -> Store:
        # Built on first use: a forked worker child must open its own database connections.
        with self._lock:
            if self._store is None:
                # A pool with a connection for every task thread (store/engine.py).
                self._store = Store.from_settings(
                    self.settings,
                    engine_options=pool_options(self.settings.database_url, self.task_threads),
                )
            return self._store

    @property
    def redis(self) -> Redis[bytes]:
        """This process's Redis client (`REDIS_URL`), for the locks of token refreshes."""
        # Built on first use, like the pools: a forked worker child builds its own.
        with self._lock:
            if self._redis is None:
                self._redis = Redis.from_url(
                    self.settings.redis_url, socket_connect_timeout=3, socket_timeout=10
                )
            return self._redis

    @property
    def ghl_limiter(self) -> RateLimiter | None:
        """This process's GHL rate limiter (on `redis`), or None when it is off."""
        if not self._rate_limited:
            return None
        client = self.redis
        with self._lock:
            # Built again after `dispose` gave the process a new Redis client.
            if self._limiter is None or self._limiter.redis is not client:
                self._limiter = RateLimiter(
                    client,
                    limit=self.settings.ghl_rate_limit,
                    window=self.settings.ghl_rate_window_seconds,
                    daily_limit=self.settings.ghl_daily_limit,
                )
            return self._limiter

    def ghl_gate(
        self, event_type: str, *, booking: Booking | None = None, default_calls: int = 1
    ) -> Gate | None:
        """One event run's gate on the rate limiter (None when it is off): it waits for slots
        up to RATE_LIMIT_WAIT_IN_PROCESS and books them up to the deferral horizon.

        ``booking`` is what an earlier run of the event reserved for this one.
        """
        limiter = self.ghl_limiter
        if limiter is None:
            return None
        return Gate(
            limiter,
            event_type=event_type,
            default_calls=default_calls,
            wait_in_process=self.settings.rate_limit_wait_in_process,
            defer_horizon=self.settings.rate_limit_defer_horizon,
            booking=booking,
        )

    def ghl_for(self, connection: ConnectionRecord, *, gate: Gate | None = None) -> GHLClient:
        """A GHL client authorized as this connection (close it when done).

        A PIT connection's client sends its token as it is; an OAuth connection's asks a
        `TokenKeeper` before each request and after a 401. With ``gate``, every request
        first takes a slot of the location's rate limit; without, it is sent at once (the
        commands an operator runs by hand; GHL's answers still bring the limiter's count up
        to date for the events that follow).
        """
        token: str | TokenSource = connection.ghl_token
        if connection.ghl_auth == GhlAuth.OAUTH:
            token = self.token_keeper(connection)
        return GHLClient.from_settings(
            self.settings, token, transport=self.ghl_transport or self._pool("ghl"), limiter=gate
        )

    def token_keeper(self, connection: ConnectionRecord) -> TokenKeeper:
        """The keeper of this connection's access token (single-flight refresh)."""
        return TokenKeeper(self.store, self.redis, self.ghl_oauth, self.settings, connection)

    def ghl_oauth(self) -> GHLOAuth:
        """A client of GHL's token endpoints for this app (close it when done).

        Raises ValueError when `GHL_CLIENT_ID` or `GHL_CLIENT_SECRET` is not set.
        """
        return GHLOAuth.from_settings(
            self.settings, transport=self.ghl_transport or self._pool("ghl")
        )

    def crm_for(self, connection: ConnectionRecord) -> CRMConnector:
        """The CRM connector of this connection (close it when done).

        Raises ValueError when the connection's settings or mapping cannot be used (the
        mapping was valid when stored; only a change of this version's rules could do it).
        """
        mapping = mapping_of(connection)
        return build_connector(
            connection.crm_kind,
            url=connection.crm_url,
            settings=connection.crm_settings,
            app_settings=self.settings,
            outbound=mapping.outbound if mapping is not None else None,
            transport=self.crm_transport or self._pool("crm"),
            ledger=StoreLedger(self.store, connection.id),
        )

    @property
    def task_threads(self) -> int:
        """Tasks this process may run at once: the threads pool's size, else one (a prefork
        child, the CLI)."""
        if self.settings.worker_pool == "threads":
            return self.settings.worker_slots
        return 1

    def _pool(self, system: str) -> SharedTransport:
        # Built on first use, like the store, so that each forked worker child has its own.
        # One pool per system for every thread: httpcore's connection pool is thread-safe (it
        # hands each connection to one request at a time under its own lock), while each
        # event's GHLClient / connector around it is the event's own. It keeps a connection
        # alive per task thread (httpx keeps 20 by default), so that 32 threads calling GHL at
        # once do not open and close TLS connections on every event.
        threads = self.task_threads
        with self._lock:
            if system not in self._pools:
                limits = httpx.Limits(
                    max_connections=max(HTTP_MAX_CONNECTIONS, threads),
                    max_keepalive_connections=max(HTTP_KEEPALIVE_CONNECTIONS, threads),
                )
                self._pools[system] = SharedTransport(httpx.HTTPTransport(limits=limits))
            return self._pools[system]

    def dispose(self) -> None:
        if self._store is not None:
            self._store.dispose()
        with self._lock:
            for pool in self._pools.values():
                pool.inner.close()
            self._pools.clear()
            if self._redis is not None:
                self._redis.close()
                self._redis = None
            self._limiter = None
