"""A location's tag list, cached in Redis and fetched by one process at a time.

Every `post.published` writes back the location's whole tag list, which costs one GHL call per
page of 100 tags. A burst of events for one location would list the same tags again and again
and spend GHL's rate limit (100 requests per 10 s) on it, so the list is kept in Redis for
``TAG_CACHE_TTL`` seconds (0 turns the cache off: every event lists the tags, as before):

- an entry younger than the TTL is used as it is, no GHL call;
- a miss (no entry, an expired one, or one that cannot be read) is filled single-flight: one
  process takes the Redis lock ``socialbridge:tags-lock:<location>`` and lists the tags; the
  others wait for its entry (polling it) instead of calling GHL too. A waiter that has not seen
  a usable entry after `LOCK_SECONDS` lists the tags itself: correctness over thrift;
- an event whose GHL post names a tag id the cached list lacks refreshes the list once,
  coalesced: not when the entry was fetched after the event asked (another process just
  refreshed it, and a list fetched since cannot be missing a tag for being old), and
  single-flight as above. Ids that a list fetched this way still lacks are remembered with it
  (``absent``): GHL's listing does not know them (a deleted tag, or one its listing has not
  caught up with), so the next post naming them asks for them by id instead of listing every
  tag again. The TTL bounds that memory like the rest of the entry.

So the tags an event writes back are never older than the TTL, and `CachedTags.fetched_at`
says when GHL was asked for them (when the listing started). Entries are compact JSON::

    {"v": 1, "at": "2026-03-10T12:00:00.123456+00:00",
     "tags": [["<id>", "<name>"], ...], "absent": ["<id>", ...]}

under ``socialbridge:tags:<location>``, expiring with the TTL. An entry of another shape is a
miss, never a crash; it is overwritten by the next listing. Redis unavailable: the tags are
listed directly and the line says so; the bridge works without its cache. Redis is not
asked again for `REDIS_PAUSE_SECONDS` after it failed, so that an outage does not cost every
event a connect timeout.

Each call is one log line ``tags.cache`` with the location, the outcome, the number of tags
and, when it went for the lock, how long it waited there or for another process's entry
(``waited_ms``); an entry that could not be written adds ``store_error`` (a warning):

    hit          a fresh entry had every tag asked for
    miss         no usable entry (``reason``: absent, expired, corrupt); this process listed
    refresh      the fresh entry lacked a tag the event names; this process listed again
    shared       another process listed while this one waited (or just before): its entry
    timeout      the lock stayed taken for `LOCK_SECONDS`: this process listed by itself
    unavailable  Redis did not answer: listed directly (a warning)
    off          the TTL is 0 (not logged: every event lists, as without a cache)

No token is ever part of a key, an entry or a log line.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import weakref
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from redis.lock import Lock

from schemas.ghl import Tag
from socialbridge import metrics
from socialbridge.logs import get_logger

if TYPE_CHECKING:
    from workers.services import Services

log = get_logger(__name__)

KEY_PREFIX = "socialbridge:tags:"
LOCK_PREFIX = "socialbridge:tags-lock:"
# The lock expires after this, so a process that dies holding it frees it; waiters wait as long
# for its entry, then list by themselves. A few GHL pages take well under it.
LOCK_SECONDS = 5.0
# How often a waiter looks at the entry again.
POLL_SECONDS = 0.02
# The entry's format; an entry of another version is a miss (and is overwritten).
FORMAT = 1
# After Redis failed to answer, the cache leaves it alone for this long: each try can cost
# seconds (connect timeout, redis-py's retries), which every event would pay while it is down.
REDIS_PAUSE_SECONDS = 5.0

OUTCOME_HIT = "hit"
OUTCOME_MISS = "miss"
OUTCOME_REFRESH = "refresh"
OUTCOME_SHARED = "shared"
OUTCOME_TIMEOUT = "timeout"
OUTCOME_UNAVAILABLE = "unavailable"
OUTCOME_OFF = "off"

Clock = Callable[[], dt.datetime]
Fetch = Callable[[], Sequence[Tag]]


def entry_key(location_id: str) -> str:
    """The Redis key of a location's cached tag list."""
    return f"{KEY_PREFIX}{location_id}"


def lock_key(location_id: str) -> str:
    """The Redis key of the lock held while a location's tags are listed."""
    return f"{LOCK_PREFIX}{location_id}"


@dataclass(frozen=True)
class CachedTags:
    """A location's tags and when GHL was asked for them (UTC).

    Tags read from the cache carry only what the flows use, their id and name (``raw`` holds
    those two under GHL's names, ``_id`` and ``tag``). ``outcome`` is the log line's.
    """

    tags: tuple[Tag, ...]
    fetched_at: dt.datetime
    outcome: str


@dataclass(frozen=True)
class _Entry:
    tags: tuple[Tag, ...]
    fetched_at: dt.datetime
    absent: frozenset[str]

    def knows(self, need: Collection[str]) -> bool:
        """Whether the list has every id of ``need``, or was found lacking it already."""
        if not need:
            return True
        ids = {tag.id for tag in self.tags}
        return all(tag_id in ids or tag_id in self.absent for tag_id in need)


class _Unavailable(Exception):
    """Redis did not answer (its error's type is the message: no URL, no password)."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TagCache:
    """The tag lists of every location, in Redis. Thread-safe: besides its settings it holds
    only the moment Redis failed last, and redis-py's client is shared safely between threads.
    """

    def __init__(
        self,
        redis_client: redis.Redis[bytes],
        ttl: float,
        *,
        lock_seconds: float = LOCK_SECONDS,
        clock: Clock = _utc_now,
        redis_pause: float = REDIS_PAUSE_SECONDS,
    ) -> None:
        if ttl < 0:
            raise ValueError("ttl must be >= 0")
        if lock_seconds <= 0:
            raise ValueError("lock_seconds must be > 0")
        self.redis = redis_client
        self.ttl = dt.timedelta(seconds=ttl)
        self._lock_seconds = lock_seconds
        self._clock = clock
        self._redis_pause = redis_pause
        # time.monotonic() before which Redis is not asked (it failed just before). Threads
        # race on it harmlessly: the worst is one more try, or one try less.
        self._paused_until = 0.0

    def __repr__(self) -> str:
        return f"TagCache(ttl={self.ttl.total_seconds():g})"

    def tags(self, location_id: str, fetch: Fetch, *, need: Collection[str] = ()) -> CachedTags:
        """The location's tags: from the cache when fresh and knowing every id of ``need``,
        else from ``fetch`` (GHL's listing), called at most once here and, across processes,
        once for everyone who asks meanwhile.

        Whatever ``fetch`` raises goes through unchanged (the lock is released first).
        """
        asked = self._clock()
        if not self.ttl:
            return CachedTags(tuple(fetch()), asked, OUTCOME_OFF)
        fields: dict[str, Any] = {"location_id": location_id}
        if time.monotonic() < self._paused_until:
            tags = tuple(fetch())
            return self._done(
                OUTCOME_UNAVAILABLE, tags, asked, fields, error="paused after a Redis failure"
            )
        try:
            raw = self._get(location_id)
            entry = _decode(raw) if raw is not None else None
            if entry is not None and self._fresh(entry) and entry.knows(need):
                return self._done(OUTCOME_HIT, entry.tags, entry.fetched_at, fields)
            if entry is not None and self._fresh(entry):
                outcome = OUTCOME_REFRESH
            else:
                outcome = OUTCOME_MISS
                fields["reason"] = (
                    "absent" if raw is None else "corrupt" if entry is None else "expired"
                )
            return self._single_flight(location_id, fetch, need, asked, raw, outcome, fields)
        except _Unavailable as exc:
            self._paused_until = time.monotonic() + self._redis_pause
            fields.pop("reason", None)
            fetched_at = self._clock()
            tags = tuple(fetch())
            return self._done(OUTCOME_UNAVAILABLE, tags, fetched_at, fields, error=str(exc))

    # -- the single flight ----------------------------------------------------------------

    def _single_flight(
        self,
        location_id: str,
        fetch: Fetch,
        need: Collection[str],
        asked: dt.datetime,
        seen: bytes | None,
        outcome: str,
        fields: dict[str, Any],
    ) -> CachedTags:
        """List the tags under the location's lock, or wait for whoever holds it."""
        lock = Lock(self.redis, lock_key(location_id), timeout=self._lock_seconds)
        started = time.monotonic()
        deadline = started + self._lock_seconds
        while True:
            if self._acquire(lock):
                try:
                    fields["waited_ms"] = _ms_since(started)
                    # Whoever held the lock before may have just written what we need.
                    entry = _decode_or_none(self._get(location_id))
                    if entry is not None and self._usable(entry, need, asked):
                        fields.pop("reason", None)
                        return self._done(OUTCOME_SHARED, entry.tags, entry.fetched_at, fields)
                    return self._fetch_and_keep(location_id, fetch, need, entry, outcome, fields)
                finally:
                    _release(lock, location_id)
            raw = self._get(location_id)
            if raw != seen:
                seen = raw
                entry = _decode_or_none(raw)
                if entry is not None and self._usable(entry, need, asked):
                    fields.pop("reason", None)
                    fields["waited_ms"] = _ms_since(started)
                    return self._done(OUTCOME_SHARED, entry.tags, entry.fetched_at, fields)
            if time.monotonic() >= deadline:
                fields.pop("reason", None)
                fields["waited_ms"] = _ms_since(started)
                entry = _decode_or_none(raw)
                return self._fetch_and_keep(
                    location_id, fetch, need, entry, OUTCOME_TIMEOUT, fields
                )
            time.sleep(POLL_SECONDS)

    def _fetch_and_keep(
        self,
        location_id: str,
        fetch: Fetch,
        need: Collection[str],
        previous: _Entry | None,
        outcome: str,
        fields: dict[str, Any],
    ) -> CachedTags:
        """Call ``fetch``, keep its list (with the ids it lacks) and log ``outcome``."""
        # Taken before the listing starts: the list is at least as new as this.
        fetched_at = self._clock()
        tags = tuple(fetch())
        ids = {tag.id for tag in tags}
        asked_for = set(need) | (previous.absent if previous is not None else frozenset())
        absent = sorted(tag_id for tag_id in asked_for if tag_id not in ids)
        self._set(location_id, _encode(tags, fetched_at, absent), fields)
        return self._done(outcome, tags, fetched_at, fields)

    # -- entries --------------------------------------------------------------------------

    def _fresh(self, entry: _Entry) -> bool:
        return self._clock() - entry.fetched_at < self.ttl

    def _usable(self, entry: _Entry, need: Collection[str], asked: dt.datetime) -> bool:
        """A fresh entry that knows every id asked for, or was listed after the event asked:
        a list fetched since then lacks those ids for another reason than its age."""
        return self._fresh(entry) and (entry.knows(need) or entry.fetched_at >= asked)

    def _get(self, location_id: str) -> bytes | None:
        try:
            raw: bytes | None = self.redis.get(entry_key(location_id))
        except redis.exceptions.ResponseError:
            # Not a string (WRONGTYPE): unreadable like any corrupt entry; SET replaces it.
            return b""
        except redis.exceptions.RedisError as exc:
            raise _Unavailable(type(exc).__name__) from None
        return raw

    def _set(self, location_id: str, value: bytes, fields: dict[str, Any]) -> None:
        # Redis forgets the entry soon after it stops being usable; freshness is still judged
        # by its `at`, so an entry that outlives its TTL a little is only a miss.
        expire_ms = max(1, int(self.ttl.total_seconds() * 1000))
        try:
            self.redis.set(entry_key(location_id), value, px=expire_ms)
        except redis.exceptions.RedisError as exc:
            # The tags are in hand: the event goes on without the cache.
            fields["store_error"] = type(exc).__name__

    def _acquire(self, lock: Lock) -> bool:
        try:
            return bool(lock.acquire(blocking=False))
        except redis.exceptions.RedisError as exc:
            raise _Unavailable(type(exc).__name__) from None

    def _done(
        self,
        outcome: str,
        tags: tuple[Tag, ...],
        fetched_at: dt.datetime,
        fields: dict[str, Any],
        **extra: Any,
    ) -> CachedTags:
        metrics.tag_cache_lookup(outcome)
        line = {**fields, "outcome": outcome, "tags": len(tags), **extra}
        if outcome == OUTCOME_UNAVAILABLE or "store_error" in fields:
            log.warning("tags.cache", **line)
        else:
            log.info("tags.cache", **line)
        return CachedTags(tags, fetched_at, outcome)


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _release(lock: Lock, location_id: str) -> None:
    try:
        lock.release()
    except redis.exceptions.LockNotOwnedError:
        # The listing outlived the lock: another process may have listed too, which only
        # costs GHL calls.
        log.warning("tags.cache_lock_expired", location_id=location_id)
    except redis.exceptions.RedisError as exc:
        # Redis is away: the lock runs out by itself.
        log.warning(
            "tags.cache_lock_not_released", location_id=location_id, error=type(exc).__name__
        )


def _encode(tags: Sequence[Tag], fetched_at: dt.datetime, absent: Sequence[str]) -> bytes:
    document = {
        "v": FORMAT,
        "at": fetched_at.astimezone(dt.UTC).isoformat(),
        "tags": [[tag.id, tag.name] for tag in tags],
        "absent": list(absent),
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _decode_or_none(raw: bytes | None) -> _Entry | None:
    return _decode(raw) if raw is not None else None


def _decode(raw: bytes) -> _Entry | None:
    """The entry ``raw`` spells; None for anything else (it is then a miss)."""
    try:
        document = json.loads(raw)
    except ValueError:  # includes UnicodeDecodeError
        return None
    if not isinstance(document, dict) or document.get("v") != FORMAT:
        return None
    at, items, absent = document.get("at"), document.get("tags"), document.get("absent")
    if not isinstance(at, str) or not isinstance(items, list) or not isinstance(absent, list):
        return None
    try:
        fetched_at = dt.datetime.fromisoformat(at)
    except ValueError:
        return None
    if fetched_at.tzinfo is None:
        return None
    tags: list[Tag] = []
    for item in items:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and item[0]
            and isinstance(item[1], str)
        ):
            return None
        tags.append(Tag(id=item[0], name=item[1], raw={"_id": item[0], "tag": item[1]}))
    if not all(isinstance(tag_id, str) for tag_id in absent):
        return None
    return _Entry(tuple(tags), fetched_at, frozenset(absent))


# -- one cache per process ----------------------------------------------------------------

_caches: weakref.WeakKeyDictionary[Services, TagCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def tag_cache_for(services: Services) -> TagCache | None:
    """The tag cache of these services (their Redis client, ``TAG_CACHE_TTL``); None when the
    TTL is 0: every event lists the tags, and Redis is never asked.

    Built once per `Services`, and again when they have opened a new Redis client since, so
    that every event of a process shares one cache.
    """
    ttl = float(services.settings.tag_cache_ttl)
    if not ttl:
        return None
    client = services.redis
    with _caches_lock:
        cache = _caches.get(services)
        if cache is None or cache.redis is not client:
            cache = TagCache(client, ttl)
            _caches[services] = cache
        return cache
