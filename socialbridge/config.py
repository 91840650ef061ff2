"""Settings: the one place where socialbridge reads its environment.

Every setting has a default, a type and a line of documentation; `docs/configuration.md` is
the human copy of `SETTINGS` below and a test keeps the two in step. Code elsewhere receives a
`Settings` object (from `Settings.from_env()` in the processes, or `Settings.from_mapping()`
in tests) and never looks at `os.environ` itself.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The Celery pools a worker may run (WORKER_POOL), and the concurrency WORKER_CONCURRENCY=0 means
# for the threads pool: events spend most of their time waiting on GHL and the CRM, so a thread
# per event in flight fills the network; 32 keeps about 3 GHL calls of 100-300 ms each in flight
# for 10+ events a second (docs/operations.md, Sizing workers for N locations).
WORKER_POOLS = ("threads", "prefork")
DEFAULT_WORKER_THREADS = 32
# More threads than this in one process spend more on the GIL and on database connections than
# they gain; add processes instead (docs/operations.md).
MAX_WORKER_CONCURRENCY = 512

# Every statistics schedule runs at most every 5 minutes and at least every 31 days: the
# bounds of a connection's interval, and of the default one.
STATS_INTERVAL_MIN_SECONDS = 300
STATS_INTERVAL_MAX_SECONDS = 31 * 24 * 3600  # 2,678,400


class ConfigError(ValueError):
    """A setting is missing or has a value of the wrong form; the message names it."""


def _setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """Typed, validated configuration. Field name == environment variable in upper case."""

    database_url: str = _setting(
        "sqlite:///var/socialbridge.db",
        "SQLAlchemy URL of the store: SQLite (default, under var/) or postgresql+psycopg://…",
    )
    redis_url: str = _setting(
        "redis://127.0.0.1:6379/0",
        "Redis used as Celery broker and by RedBeat. `make run` points it at its embedded Redis.",
    )
    ghl_base_url: str = _setting(
        "https://services.leadconnectorhq.com", "Base URL of the HighLevel API."
    )
    ghl_timeout: float = _setting(15.0, "Seconds before a call to HighLevel times out.")
    ghl_client_id: str = _setting(
        "",
        "Client ID of your GHL marketplace app; needed for connections with `--auth oauth` "
        "(docs/ghl-auth.md). `make run` uses the sandbox's.",
    )
    ghl_client_secret: str = _setting(
        "", "Client secret of your GHL marketplace app, sent only to GHL's token endpoint."
    )
    ghl_oauth_authorize_url: str = _setting(
        "https://marketplace.gohighlevel.com/v2/oauth/chooselocation",
        "Where `/oauth/ghl/start` sends the user to choose and approve a location.",
    )
    ghl_token_refresh_margin: int = _setting(
        600,
        "Seconds before an OAuth access token expires when beat refreshes it ahead of time "
        "(a 401 refreshes it at once whatever its expiry says).",
    )
    ghl_refresh_lock_seconds: int = _setting(
        30,
        "Longest a refresh may hold a connection's refresh lock in Redis: a process that dies "
        "while refreshing frees it after this. Others wait for it up to this long.",
    )
    ghl_webhook_public_key: str = _setting(
        "",
        "PEM of the Ed25519 key GHL signs its app webhooks (`x-ghl-signature`) with; empty "
        "means GHL's published key. `make run` sets the sandbox's.",
    )
    ghl_webhook_rsa_public_key: str = _setting(
        "",
        "PEM of GHL's legacy RSA key (`x-wh-signature`, retired in 2026). Empty: RSA-signed "
        "deliveries are refused; set, they pass only when no `x-ghl-signature` is present.",
    )
    ghl_rate_limit: int = _setting(
        96,
        "Requests per GHL_RATE_WINDOW_SECONDS the bridge sends to one location, counted in Redis "
        "across every process (GHL allows 100: the margin absorbs the time a request takes to "
        "reach GHL). 0 turns the shared limiter off.",
    )
    ghl_rate_window_seconds: float = _setting(
        10.0, "Length of GHL's sliding rate-limit window, in seconds."
    )
    ghl_daily_limit: int = _setting(
        190_000,
        "Requests per UTC day the bridge sends to one location (GHL allows 200,000; the same "
        "5 % margin).",
    )
    rate_limit_wait_in_process: float = _setting(
        1.0,
        "Longest a worker waits for a GHL slot of a location. An event whose slot is further "
        "gives its worker back and is queued again for that slot, without counting an attempt.",
    )
    tag_cache_ttl: int = _setting(
        60,
        "Seconds a location's tag list stays cached in Redis for post.published; 0 turns the "
        "cache off (every event lists the tags).",
    )
    crm_timeout: float = _setting(15.0, "Seconds before a write-back to the CRM times out.")
    secret_key: str = _setting(
        "",
        "Signs sessions and derives the key that encrypts secrets at rest. Required outside "
        "`make run`; changing it makes stored secrets unreadable unless the old one is in "
        "SECRET_KEY_FALLBACKS.",
    )
    secret_key_fallbacks: str = _setting(
        "",
        "Older SECRET_KEYs, separated by commas, that still decrypt secrets stored under them "
        "while `socialbridge secrets rotate` re-encrypts those under SECRET_KEY (see "
        "operations.md, Rotating SECRET_KEY). New secrets always use SECRET_KEY.",
    )
    session_cookie_secure: bool = _setting(
        True,
        "Send the console's session cookie over HTTPS only (its Secure flag). Leave it on "
        "whenever the console is served over HTTPS, as behind a TLS proxy; `make run` (plain "
        "HTTP on loopback) turns it off.",
    )
    session_lifetime_hours: int = _setting(
        12, "Hours a console sign-in lasts; signing in again starts a new one."
    )
    trusted_proxy_count: int = _setting(
        0,
        "Reverse proxies in front of the web process whose X-Forwarded-For, -Proto and -Host "
        "are believed (0: none, the peer address is the client's). Set it to the number of "
        "proxies you run, never more: a client could otherwise choose its own address.",
    )
    signin_address_limit: int = _setting(
        30,
        "Failed console sign-ins one client address may make in 15 minutes; further attempts "
        "from it are refused (429) until the window ends. Each account also locks for 15 "
        "minutes after 10 failures in a row.",
    )
    port: int = _setting(8000, "Port the web process binds.")
    public_url: str = _setting(
        "",
        "Public base URL of the web process, used to print webhook URLs "
        "(default http://127.0.0.1:$PORT).",
    )
    webhook_max_bytes: int = _setting(
        256 * 1024, "Largest inbound webhook body accepted, in bytes (larger: 413)."
    )
    max_attempts: int = _setting(
        12,
        "Attempts of one event before it is `dead`. With the backoff defaults the 11 waits "
        "add up to at most about 66 minutes (about 33 on average): enough to ride out an outage.",
    )
    retry_backoff_base: float = _setting(
        5.0, "First retry delay ceiling in seconds; doubles each attempt (full jitter)."
    )
    retry_backoff_max: float = _setting(900.0, "Largest retry delay in seconds.")
    unexpected_max_attempts: int = _setting(
        3,
        "Attempts that may end in an unexpected error (a bug, not an outage) before the event "
        "is `dead`; outages keep the larger MAX_ATTEMPTS budget.",
    )
    sweep_interval: float = _setting(
        5.0,
        "Seconds between recovery sweeps. Every worker and beat process runs the sweep (one at "
        "a time, under a Redis lock): it enqueues retries that are due, attempts whose lease "
        "ran out and queued events whose message was lost.",
    )
    lease_seconds: int = _setting(
        20,
        "Lease of a running attempt, renewed every third of it. An attempt whose lease ran out "
        "(its worker died or lost Redis) is re-enqueued by the next sweep.",
    )
    queued_lost_after: int = _setting(
        60,
        "Seconds a `queued` event may wait before the sweep looks for its message in Redis, "
        "and enqueues it again when Redis has none (lost with data Redis did not keep).",
    )
    broker_visibility_timeout: int = _setting(
        60,
        "Seconds a task may stay unacknowledged before Redis gives it to another worker: how "
        "soon a message held by a dead worker comes back. A redelivery of an attempt still "
        "running finds its lease alive and does nothing.",
    )
    task_soft_time_limit: int = _setting(
        120, "Seconds before a running task is asked to stop (SoftTimeLimitExceeded)."
    )
    task_time_limit: int = _setting(
        180,
        "Seconds before a running task is killed (prefork pool). The threads pool cannot kill: "
        "its attempt stops renewing its lease then, and may no longer write back or record an "
        "outcome (docs/operations.md, Guarantees).",
    )
    worker_pool: str = _setting(
        "threads",
        "Celery pool of the worker: `threads` (events wait on the network, so threads fill it) "
        "or `prefork` (a process per task). A `--pool` on the worker's command line wins.",
    )
    worker_concurrency: int = _setting(
        0,
        "Tasks one worker process runs at once; 0 means 32 for the threads pool, the number of "
        "CPUs for prefork. A `--concurrency` on the worker's command line wins.",
    )
    stats_interval_seconds: int = _setting(
        86400,
        "Default interval of each connection's statistics schedule (daily); 300 s to 31 days.",
    )
    flower_user: str = _setting("admin", "Flower basic-auth user.")
    flower_password: str = _setting(
        "", "Flower basic-auth password (`make run` generates one and prints it)."
    )
    log_level: str = _setting("INFO", "Log level of every process.")
    log_format: str = _setting("text", "`text` for people, `json` for log shippers.")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, env_file: Path | None = None
    ) -> Settings:
        """Read every setting from the environment (default `os.environ`).

        ``env_file`` (KEY=VALUE lines, as `make run` writes to var/socialbridge.env) supplies
        values the environment does not set; the environment always wins.
        """
        # An empty variable counts as unset, so it neither wins over the file nor the default.
        env = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}
        if env_file is not None and env_file.is_file():
            env = {**read_env_file(env_file), **env}
        values = {
            f.name: env[f.name.upper()] for f in dataclasses.fields(cls) if f.name.upper() in env
        }
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Build settings from a mapping of lower- or upper-case names; strings are converted."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for raw_name, value in values.items():
            name = raw_name.lower()
            if name not in known:
                raise ConfigError(f"{raw_name.upper()}: unknown setting")
            kwargs[name] = _convert(name, known[name].type, value)
        settings = cls(**kwargs)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (validated like the original)."""
        return Settings.from_mapping({**dataclasses.asdict(self), **changes})

    def validate(self) -> None:
        """Raise ConfigError naming the first setting that cannot work."""
        if not self.database_url.startswith(("sqlite", "postgres")):
            raise ConfigError(
                "DATABASE_URL: expected a sqlite:// or postgresql:// URL, "
                f"got {self.database_url!r}"
            )
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"REDIS_URL: expected redis://, rediss:// or unix://, got {self.redis_url!r}"
            )
        if not self.ghl_base_url.startswith(("http://", "https://")):
            raise ConfigError(f"GHL_BASE_URL: expected an http(s) URL, got {self.ghl_base_url!r}")
        if not self.ghl_oauth_authorize_url.startswith(("http://", "https://")):
            raise ConfigError(
                "GHL_OAUTH_AUTHORIZE_URL: expected an http(s) URL, "
                f"got {self.ghl_oauth_authorize_url!r}"
            )
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError(f"PUBLIC_URL: expected an http(s) URL, got {self.public_url!r}")
        for name in (
            "port",
            "webhook_max_bytes",
            "max_attempts",
            "unexpected_max_attempts",
            "task_time_limit",
            "sweep_interval",
            "queued_lost_after",
            "broker_visibility_timeout",
            "retry_backoff_max",
            "ghl_token_refresh_margin",
            "ghl_refresh_lock_seconds",
            "session_lifetime_hours",
            "signin_address_limit",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name.upper()}: must be a positive number")
        if (
            not STATS_INTERVAL_MIN_SECONDS
            <= self.stats_interval_seconds
            <= (STATS_INTERVAL_MAX_SECONDS)
        ):
            raise ConfigError(
                f"STATS_INTERVAL_SECONDS: must be from {STATS_INTERVAL_MIN_SECONDS} (5 minutes) "
                f"to {STATS_INTERVAL_MAX_SECONDS} (31 days), got {self.stats_interval_seconds}"
            )
        if self.ghl_rate_limit < 0:
            raise ConfigError("GHL_RATE_LIMIT: must be 0 (no shared limiter) or more")
        for name in ("ghl_rate_window_seconds", "ghl_daily_limit"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name.upper()}: must be a positive number")
        if not 0 <= self.rate_limit_wait_in_process < self.rate_limit_defer_horizon:
            raise ConfigError(
                "RATE_LIMIT_WAIT_IN_PROCESS: must be from 0 to below two thirds of "
                f"BROKER_VISIBILITY_TIMEOUT ({self.rate_limit_defer_horizon:g} s)"
            )
        if self.trusted_proxy_count < 0:
            raise ConfigError("TRUSTED_PROXY_COUNT: must be 0 (no proxy) or more")
        if self.tag_cache_ttl < 0:
            raise ConfigError("TAG_CACHE_TTL: must be 0 (no cache) or more")
        if self.lease_seconds < 3:
            # Renewed every third of the lease: anything shorter would expire between renewals.
            raise ConfigError("LEASE_SECONDS: must be at least 3")
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ConfigError("TASK_SOFT_TIME_LIMIT: must be below TASK_TIME_LIMIT")
        if self.worker_pool not in WORKER_POOLS:
            raise ConfigError(f"WORKER_POOL: expected threads or prefork, got {self.worker_pool!r}")
        if not 0 <= self.worker_concurrency <= MAX_WORKER_CONCURRENCY:
            raise ConfigError(
                "WORKER_CONCURRENCY: must be from 0 (the pool's default: 32 threads, or one "
                f"process per CPU) to {MAX_WORKER_CONCURRENCY}, got {self.worker_concurrency}"
            )
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"LOG_FORMAT: expected text or json, got {self.log_format!r}")
        self.fallback_secret_keys()

    def require_secret_key(self) -> str:
        """The secret key, or a ConfigError saying how to set one."""
        if not self.secret_key:
            raise ConfigError(
                "SECRET_KEY: not set. Generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return self.secret_key

    def fallback_secret_keys(self) -> tuple[str, ...]:
        """The keys of SECRET_KEY_FALLBACKS, in order; ConfigError on an empty item."""
        if not self.secret_key_fallbacks:
            return ()
        keys = tuple(key.strip() for key in self.secret_key_fallbacks.split(","))
        for position, key in enumerate(keys, start=1):
            if not key:
                # A stray comma is a typing accident, not a key: saying so beats a key of "".
                raise ConfigError(
                    f"SECRET_KEY_FALLBACKS: item {position} of {len(keys)} is empty; expected "
                    "older SECRET_KEYs separated by commas"
                )
        return keys

    @property
    def worker_slots(self) -> int:
        """Tasks one worker process runs at once: WORKER_CONCURRENCY, or the pool's default
        when it is 0 (32 threads; one process per CPU, as Celery counts them)."""
        if self.worker_concurrency:
            return self.worker_concurrency
        if self.worker_pool == "threads":
            return DEFAULT_WORKER_THREADS
        return os.cpu_count() or 1

    @property
    def rate_limit_defer_horizon(self) -> float:
        """How far ahead an event deferred by the GHL rate limiter books its slots.

        Its message then waits in a worker until the slot, unacknowledged: two thirds of
        BROKER_VISIBILITY_TIMEOUT leaves a third for the worker to be late before Redis would
        hand the message to another. A slot further away is left to the store and the sweep.
        """
        return self.broker_visibility_timeout * 2 / 3

    def missing_ghl_app_settings(self) -> list[str]:
        """The names of GHL_CLIENT_ID / GHL_CLIENT_SECRET that are not set (an OAuth install
        needs both)."""
        return [
            name
            for name, value in (
                ("GHL_CLIENT_ID", self.ghl_client_id),
                ("GHL_CLIENT_SECRET", self.ghl_client_secret),
            )
            if not value
        ]

    @property
    def base_url(self) -> str:
        """Where the web process is reached from outside."""
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")


SETTINGS: tuple[tuple[str, str, str], ...] = tuple(
    (f.name.upper(), repr(f.default), f.metadata["doc"]) for f in dataclasses.fields(Settings)
)
"""(environment variable, default, documentation) for every setting."""


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment variables that give another process these settings."""
    return {
        f.name.upper(): str(getattr(settings, f.name))
        for f in dataclasses.fields(settings)
        if getattr(settings, f.name) != ""
    }


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of ``path``; blank lines and ``#`` comments are skipped.

    An ``export`` prefix and quotes around a value are allowed, as shells write them.
    """
    env: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, separator, value = line.partition("=")
        key = key.removeprefix("export ").strip()
        if not separator or not key:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _convert(name: str, annotation: Any, value: Any) -> Any:
    if str(annotation) == "bool":
        if isinstance(value, bool):
            return value
        # bool("false") is True: only the words people write for yes and no count.
        word = str(value).strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ConfigError(f"{name.upper()}: expected true or false, got {value!r}")
    kind = {"str": str, "int": int, "float": float}[str(annotation)]
    if isinstance(value, kind) and not isinstance(value, bool):
        return value
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name.upper()}: expected {kind.__name__}, got {value!r}") from None
