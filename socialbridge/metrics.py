"""Counters and histogram observations of one process, added up in Redis for `/metrics`.

The web process and every worker process (prefork children, or one process of threads) each
record what they see: GHL answers, rate-limiter waits, tag-cache lookups, events done. Recording
is a dict increment under a lock, never a Redis call. A daemon thread, started on the first
record of each process, adds what was recorded since its last pass to the Redis hash
``socialbridge:metrics`` at most once a second (HINCRBY / HINCRBYFLOAT, one pipeline), and once
more at process exit. `webapp.metrics` reads that hash at each scrape, so every process's counts
are summed without prometheus_client's multiprocess mode (its files need a shared folder and
a cleanup at every restart).

Hash fields are JSON: ``["<metric>", [["<label>", "<value>"], ...]]``. A histogram keeps one
field per bucket (label ``le``, counting the observations that fell in that bucket only, not
the cumulative count Prometheus shows: `webapp.metrics` adds them up), plus ``<metric>_sum``
and ``<metric>_count``.

A flush that Redis refuses keeps its counts for the next one. A connection lost after Redis
applied the pipeline but before it answered may count those once more; counters are for trends
and alerts, not for accounting.

A forked child starts with nothing recorded (what the parent had recorded stays the parent's to
flush). The process-wide recorder is `RECORDER`; the module functions below record into it.
"""

from __future__ import annotations

import atexit
import bisect
import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Mapping

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from socialbridge.logs import get_logger

log = get_logger(__name__)

HASH_KEY = "socialbridge:metrics"
FLUSH_SECONDS = 1.0

# The metrics recorded by processes (webapp/metrics.py publishes them with a `socialbridge_`
# prefix; docs/operations.md, "Metrics", says what each means).
GHL_REQUESTS = "ghl_requests"  # counter: endpoint, status
GHL_LIMITER_WAITS = "ghl_limiter_waits"  # counter
GHL_LIMITER_WAIT_SECONDS = "ghl_limiter_wait_seconds"  # counter of seconds (float)
GHL_LIMITER_DEFERRALS = "ghl_limiter_deferrals"  # counter
GHL_LIMITER_SLOTS_GIVEN_BACK = "ghl_limiter_slots_given_back"  # counter: reason
# Why a rate-limit slot was given back without a request (the `reason` label).
SLOT_LATE, SLOT_UNUSED, SLOT_429 = "late", "unused", "429"
SLOTS_GIVEN_BACK_REASONS = (SLOT_LATE, SLOT_UNUSED, SLOT_429)
TAG_CACHE_LOOKUPS = "tag_cache_lookups"  # counter: outcome
EVENT_DONE_SECONDS = "event_done_seconds"  # histogram: type

# Seconds from the receiver's 202 to done: from a cached event's fraction of a second to the
# hours a retried event may take.
EVENT_DONE_BUCKETS: tuple[float, ...] = (
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0,
)  # fmt: skip
HISTOGRAM_BUCKETS: Mapping[str, tuple[float, ...]] = {EVENT_DONE_SECONDS: EVENT_DONE_BUCKETS}

Labels = tuple[tuple[str, str], ...]
Key = tuple[str, Labels]


def field(metric: str, labels: Labels) -> str:
    """The Redis hash field of one series."""
    return json.dumps([metric, [list(pair) for pair in labels]], separators=(",", ":"))


def parse_field(raw: str) -> Key | None:
    """The series a hash field names; None for anything else (it is then ignored)."""
    try:
        metric, pairs = json.loads(raw)
        labels = tuple((str(name), str(value)) for name, value in pairs)
    except (ValueError, TypeError):
        return None
    return (metric, labels) if isinstance(metric, str) else None


def bucket_label(bound: float) -> str:
    """The ``le`` label of a bucket, spelled as prometheus_client spells it."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


class Recorder:
    """One process's counts since its last flush; thread-safe.

    ``client`` gives the Redis client to flush to (None: not bound, nothing is flushed yet).
    """

    def __init__(
        self,
        client: Callable[[], redis.Redis[bytes] | None] | None = None,
        *,
        key: str = HASH_KEY,
        every: float = FLUSH_SECONDS,
        start_thread: bool = True,
    ) -> None:
        self.key = key
        self.every = every
        self._client = client
        self._start_thread = start_thread
        self._init_state()
        # Not in tests' throw-away recorders: only the process-wide one registers hooks.
        self._hooked = False

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._ints: dict[Key, int] = {}
        self._floats: dict[Key, float] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._failing = False

    # -- recording (the hot path) ---------------------------------------------------------------

    def count(self, metric: str, amount: int = 1, **labels: str) -> None:
        """Add ``amount`` to a counter."""
        key = (metric, tuple(sorted(labels.items())))
        with self._lock:
            self._ints[key] = self._ints.get(key, 0) + amount
        self._ensure_thread()

    def add(self, metric: str, amount: float, **labels: str) -> None:
        """Add a fraction (seconds, say) to a counter."""
        key = (metric, tuple(sorted(labels.items())))
        with self._lock:
            self._floats[key] = self._floats.get(key, 0.0) + amount
        self._ensure_thread()

    def observe(self, metric: str, value: float, **labels: str) -> None:
        """One observation of the histogram ``metric`` (its buckets: `HISTOGRAM_BUCKETS`)."""
        bounds = HISTOGRAM_BUCKETS[metric]
        index = bisect.bisect_left(bounds, value)
        bound = bounds[index] if index < len(bounds) else float("inf")
        pairs = tuple(sorted(labels.items()))
        bucket = (f"{metric}_bucket", tuple(sorted((*pairs, ("le", bucket_label(bound))))))
        with self._lock:
            self._ints[bucket] = self._ints.get(bucket, 0) + 1
            count = (f"{metric}_count", pairs)
            self._ints[count] = self._ints.get(count, 0) + 1
            total = (f"{metric}_sum", pairs)
            self._floats[total] = self._floats.get(total, 0.0) + value
        self._ensure_thread()

    # -- flushing -------------------------------------------------------------------------------

    def bind(self, client: Callable[[], redis.Redis[bytes] | None]) -> None:
        """Flush to the Redis client ``client()`` gives (asked at every flush)."""
        self._client = client

    def pending(self) -> dict[Key, float]:
        """What the next flush would add (tests, and nothing else)."""
        with self._lock:
            return {**self._ints, **self._floats}

    def flush(self) -> bool:
        """Add what was recorded since the last flush to the Redis hash, in one pipeline.

        False when there was no client or Redis refused (the counts are kept for next time).
        """
        client = self._client() if self._client is not None else None
        if client is None:
            return False
        with self._flush_lock:
            with self._lock:
                ints, self._ints = self._ints, {}
                floats, self._floats = self._floats, {}
            if not ints and not floats:
                return True
            try:
                pipe = client.pipeline(transaction=True)
                for key, amount in ints.items():
                    pipe.hincrby(self.key, field(*key), amount)
                for key, value in floats.items():
                    pipe.hincrbyfloat(self.key, field(*key), value)
                pipe.execute()
            except redis.RedisError as exc:
                self._merge_back(ints, floats)
                if not self._failing:
                    # Once per outage, not every second.
                    log.warning("metrics.flush_failed", error=type(exc).__name__)
                self._failing = True
                return False
            if self._failing:
                log.info("metrics.flush_recovered")
            self._failing = False
        return True

    def _merge_back(self, ints: dict[Key, int], floats: dict[Key, float]) -> None:
        with self._lock:
            for key, amount in ints.items():
                self._ints[key] = self._ints.get(key, 0) + amount
            for key, value in floats.items():
                self._floats[key] = self._floats.get(key, 0.0) + value

    def _ensure_thread(self) -> None:
        # Cheap when the thread runs: one attribute read.
        if self._thread is not None or not self._start_thread:
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="socialbridge-metrics", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.flush()
            except Exception as exc:  # a metrics bug must never end the thread's process
                log.warning("metrics.flush_error", error=repr(exc))

    def stop(self) -> None:
        """Stop the flushing thread and flush what is left (process exit)."""
        self._stop.set()
        # Quietly: a Redis gone before the process (tests, a whole stack stopping) is no news
        # worth a warning at exit, and the counts of the last second are all that is lost.
        self._failing = True
        try:
            self.flush()
        except Exception as exc:  # at exit: say so, never raise
            log.warning("metrics.flush_error", error=repr(exc))

    def hook_process(self) -> None:
        """Flush at exit, and start a forked child with nothing recorded and no thread."""
        if self._hooked:
            return
        self._hooked = True
        atexit.register(self.stop)
        os.register_at_fork(after_in_child=self._init_state)


def redis_client_for(url: str) -> Callable[[], redis.Redis[bytes] | None]:
    """A client factory for ``url``: one client per process, built at the first flush."""
    clients: dict[int, redis.Redis[bytes]] = {}

    def client() -> redis.Redis[bytes]:
        pid = os.getpid()
        if pid not in clients:
            clients.clear()
            # One try, short timeouts: a flush is never worth holding a process (at its exit
            # above all); what it could not add waits for the next one.
            clients[pid] = redis.Redis.from_url(
                url, socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0)
            )
        return clients[pid]

    return client


RECORDER = Recorder()

_bound_url: str | None = None
_bind_lock = threading.Lock()


def bind(redis_url: str) -> None:
    """Flush this process's recorder to ``redis_url`` (`REDIS_URL`); the latest call wins."""
    global _bound_url
    with _bind_lock:
        if redis_url == _bound_url:
            return
        _bound_url = redis_url
        RECORDER.bind(redis_client_for(redis_url))
        RECORDER.hook_process()


# -- what the code records (each a one-line hook where it happens) --------------------------------
# ``recorder`` is for tests; the code records into the process's.


def ghl_response(
    method: str, template: str, status: int | None, *, recorder: Recorder = RECORDER
) -> None:
    """A GHL request answered with ``status`` (None: no answer, a network error)."""
    recorder.count(GHL_REQUESTS, endpoint=f"{method} {template}", status=str(status or "error"))


def limiter_waited(seconds: float, *, recorder: Recorder = RECORDER) -> None:
    """A GHL request waited ``seconds`` in-process for its rate-limit slot."""
    recorder.count(GHL_LIMITER_WAITS)
    recorder.add(GHL_LIMITER_WAIT_SECONDS, seconds)


def limiter_deferred(*, recorder: Recorder = RECORDER) -> None:
    """An event run ended because its rate-limit slot was too far to wait for."""
    recorder.count(GHL_LIMITER_DEFERRALS)


def limiter_slots_given_back(reason: str, count: int = 1, *, recorder: Recorder = RECORDER) -> None:
    """``count`` rate-limit slots given back without a request: ``late`` (come too late to
    use), ``unused`` (held or booked for requests the event did not make), ``429``."""
    if count > 0:
        recorder.count(GHL_LIMITER_SLOTS_GIVEN_BACK, count, reason=reason)


def tag_cache_lookup(outcome: str, *, recorder: Recorder = RECORDER) -> None:
    """One tag-cache lookup, by its outcome (workers.tag_cache: hit, miss, refresh, ...)."""
    recorder.count(TAG_CACHE_LOOKUPS, outcome=outcome)


def event_done(event_type: str, received_at: dt.datetime, *, recorder: Recorder = RECORDER) -> None:
    """An event is done: the time since the receiver recorded it (its 202)."""
    seconds = (dt.datetime.now(dt.UTC) - received_at).total_seconds()
    recorder.observe(EVENT_DONE_SECONDS, max(0.0, seconds), type=event_type)
