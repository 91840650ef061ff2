"""One GHL rate limiter per location, shared by every process and machine through Redis.

HighLevel allows 100 requests per 10 s and 200,000 per UTC day per app and location, counted
over a sliding window (docs/operations.md, "The GHL rate limiter"). Every request this
bridge sends to a location first takes a *slot*: a moment at which it may be sent. The slots of
a location are a sliding-window log in Redis, a sorted set of slot times, which a handful of Lua
scripts change atomically, on Redis's own clock (``TIME``): the processes' clocks never decide
anything, so machines whose clocks disagree still share one budget.

A slot for a request is the earliest moment ``t`` that is

- not before now, nor before the latest slot already given (slots only ever move forward),
- at least one window after the ``limit``-th latest slot (so the window ending at ``t`` holds
  at most ``limit`` slots, ``t``'s own included),
- and, when ``t`` lies in the future (the location is at its limit), at least
  ``window / limit`` after the latest slot: waiting slots are paced evenly instead of coming
  due all at once every window, which keeps the requests that use them in step with the slots.

Because every slot is at or after every slot before it, no window of the log ever holds more
than ``limit`` slots (by induction on the slots given). ``limit`` (`GHL_RATE_LIMIT`, 96) stays
below GHL's 100: a request reaches GHL a little after its slot, by a time that varies, and the
margin absorbs that.

Members of the log say who holds the slot: ``h:`` a running event (or one about to wait for it
in-process), ``b:`` an event deferred to that slot whose next run has not started (a *booking*),
``p:`` a phantom, a request GHL counted that this log had not (another installation of the app
on the same location, or a 429). A running event that finds no free slot within
``RATE_LIMIT_WAIT_IN_PROCESS`` may take over a booking due about now: the booking's event has
made no call yet and simply books again, while the running one would otherwise repeat the calls
it made when it comes back.

The daily budget is a counter per location and UTC day (Redis's day), raised by every slot
given; a location whose budget is spent gets no slot before the next UTC midnight.

Every answer from GHL re-synchronizes the log (`RateLimiter.observe`): when
`X-RateLimit-Remaining` says GHL counted more requests in its window than the log holds,
phantoms are added so that the log holds at least as many; `X-RateLimit-Daily-Remaining` raises
the daily counter the same way. Headers only ever make the limiter more careful. A 429 fills the
window with phantoms so that nothing is sent before its `Retry-After`, and drops the bookings of
that span (their events book again).

`Gate` is one event's use of the limiter: it holds the event's slots, waits in-process for a slot
that comes within ``RATE_LIMIT_WAIT_IN_PROCESS``, and otherwise raises `RateLimitDeferred` with a
booking for the event's next run, which the worker passes along with the re-sent message so that
the next run uses those slots instead of taking new ones. That message goes to the front of the
queue and is timed to start WAKE_EARLY_SECONDS before the first slot (`RateLimitDeferred.wake_in`):
while a location is at its limit new slots only come after the latest one, so a slot its
event reaches too late is lost to the location, not merely moved.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import redis

from ghl.ratelimit import RateLimit, parse_rate_limit, retry_delay
from socialbridge import metrics
from socialbridge.errors import SocialbridgeError
from socialbridge.logs import get_logger

log = get_logger(__name__)

KEY_PREFIX = "socialbridge:ghl-rate:"

# How late a request may use its slot. A request sent up to this long after its slot lands in
# GHL's window a little later than the log says; with paced slots at most
# floor(LATE_SLOT_SECONDS / (window / limit)) + 1 more requests share a window at GHL than in
# the log (1 with the defaults: 97 of GHL's 100), which the margin below GHL's own limit covers
# with room for the transit time to vary (docs/operations.md, "The GHL rate limiter"). A slot
# found later than this is given back and another taken. Deferred runs start before their
# slot (WAKE_EARLY_SECONDS), so that only a worker far behind finds one this late.
LATE_SLOT_SECONDS = 0.1

# How long before its booked slot a deferred event's next run is sent to start: it then claims
# its booking and waits the rest in-process, so that the worker's own delays (the message's
# timer, a free thread, reading the event, claiming the booking: tens of milliseconds, more on a
# busy machine) are spent before the slot instead of after it, where more than
# LATE_SLOT_SECONDS of them would cost the slot. Never more than half of
# RATE_LIMIT_WAIT_IN_PROCESS, so that a deferred run holds its worker for less than that; and
# only in a pool of threads (`wake_early`).
WAKE_EARLY_SECONDS = 0.5

# Entries are kept this long past the window, so that a GHL answer arriving a little after its
# request's slot left the window still finds it when the log is compared with GHL's count.
RESYNC_GRACE_SECONDS = 1.0

# How long a learned number of calls per event is kept (refreshed by every event).
CALLS_HINT_SECONDS = 86_400

HELD, BOOKED, PHANTOM = "h", "b", "p"

_LUA_COMMON = """
local function fmt(x) return string.format('%.6f', x) end
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
if redis.replicate_commands then redis.replicate_commands() end
"""

# KEYS: log, daily, hints
# ARGV: limit, window, daily_limit, count, horizon, kind, token, hint_field, default_hint, keep
# -> {'1', now, member, at, member, at, ...} or {'0', now, earliest}
_RESERVE = (
    _LUA_COMMON
    + """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local daily_limit = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
local horizon = tonumber(ARGV[5])
local now = redis_now()
if ARGV[8] ~= '' then
  local hint = tonumber(redis.call('HGET', KEYS[3], ARGV[8]) or ARGV[9]) or 1
  if hint > count then count = hint end
end
if count > limit then count = limit end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. fmt(now - window - tonumber(ARGV[10])))
local day = math.floor(now / 86400)
local stored = redis.call('HMGET', KEYS[2], 'day', 'used')
local used = 0
if tonumber(stored[1]) == day then used = tonumber(stored[2]) or 0 end
if used >= daily_limit then return {'0', fmt(now), fmt((day + 1) * 86400)} end
if used + count > daily_limit then count = daily_limit - used end
local spacing = window / limit
local newest = nil
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #top > 0 then newest = tonumber(top[2]) end
local reply = {'1', fmt(now)}
for i = 1, count do
  local t = now
  if newest and newest > t then t = newest end
  local kth = redis.call('ZREVRANGE', KEYS[1], limit - 1, limit - 1, 'WITHSCORES')
  -- One microsecond more, so that the slot stays out of the window of the limit-th latest
  -- once both are written with six decimals.
  if #kth > 0 and tonumber(kth[2]) + window >= t then t = tonumber(kth[2]) + window + 0.000001 end
  if t > now and newest and newest + spacing > t then t = newest + spacing end
  if i == 1 and t > now + horizon then return {'0', fmt(now), fmt(t)} end
  local member = ARGV[6] .. ':' .. ARGV[7] .. ':' .. i
  redis.call('ZADD', KEYS[1], fmt(t), member)
  newest = t
  reply[#reply + 1] = member
  reply[#reply + 1] = fmt(t)
end
redis.call('HSET', KEYS[2], 'day', day, 'used', used + count)
redis.call('EXPIRE', KEYS[2], 2 * 86400)
local ttl = math.ceil((newest - now + window + tonumber(ARGV[10])) * 1000) + 1000
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return reply
"""
)

# KEYS: log.  ARGV: kind, member...  -> {now, member, at, ...} for the members still there
_RETAG = (
    _LUA_COMMON
    + """
local reply = {fmt(redis_now())}
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score then
    local member = ARGV[1] .. string.sub(ARGV[i], 2)
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('ZADD', KEYS[1], score, member)
    reply[#reply + 1] = member
    reply[#reply + 1] = fmt(tonumber(score))
  end
end
return reply
"""
)

# KEYS: log, daily.  ARGV: member...  -> {now, removed}
_RELEASE = (
    _LUA_COMMON
    + """
local now = redis_now()
local removed = 0
for i = 1, #ARGV do removed = removed + redis.call('ZREM', KEYS[1], ARGV[i]) end
if removed > 0 then
  local stored = redis.call('HMGET', KEYS[2], 'day', 'used')
  if tonumber(stored[1]) == math.floor(now / 86400) then
    local used = (tonumber(stored[2]) or 0) - removed
    if used < 0 then used = 0 end
    redis.call('HSET', KEYS[2], 'used', used)
  end
end
return {fmt(now), removed}
"""
)

# KEYS: log.  ARGV: late, ahead, token  -> {now, member, at} or {now}
_STEAL = (
    _LUA_COMMON
    + """
local now = redis_now()
local found = redis.call('ZRANGEBYSCORE', KEYS[1], fmt(now - tonumber(ARGV[1])),
  fmt(now + tonumber(ARGV[2])), 'WITHSCORES')
for i = 1, #found, 2 do
  if string.sub(found[i], 1, 2) == 'b:' then
    local member = 'h:' .. ARGV[3] .. ':s'
    redis.call('ZREM', KEYS[1], found[i])
    redis.call('ZADD', KEYS[1], found[i + 1], member)
    return {fmt(now), member, fmt(tonumber(found[i + 1]))}
  end
end
return {fmt(now)}
"""
)

# KEYS: log, daily
# ARGV: limit, window, keep, token, ghl_max, remaining, (unused), ghl_daily_limit,
#       daily_remaining, is_429, retry_after, daily_limit, late   (-1: the header was absent)
# -> {now, phantoms added, bookings dropped}
_OBSERVE = (
    _LUA_COMMON
    + """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local keep = tonumber(ARGV[3])
local ghl_max = tonumber(ARGV[5])
local remaining = tonumber(ARGV[6])
local ghl_daily = tonumber(ARGV[8])
local daily_remaining = tonumber(ARGV[9])
local is_429 = ARGV[10] == '1'
local retry_after = tonumber(ARGV[11])
local now = redis_now()
local added = 0
local dropped = 0
local last = now
if ghl_max >= 0 and remaining >= 0 then
  local seen = ghl_max - remaining
  local ours = redis.call('ZCOUNT', KEYS[1], '(' .. fmt(now - window - keep), fmt(now))
  if seen > ours then
    for i = 1, seen - ours do
      redis.call('ZADD', KEYS[1], fmt(now), 'p:' .. ARGV[4] .. ':' .. i)
    end
    added = seen - ours
  end
end
if is_429 then
  local wait = retry_after
  if wait < 0 then wait = window end
  local booked = redis.call('ZRANGEBYSCORE', KEYS[1], fmt(now - tonumber(ARGV[13])),
    fmt(now + wait))
  for _, member in ipairs(booked) do
    if string.sub(member, 1, 2) == 'b:' then
      dropped = dropped + redis.call('ZREM', KEYS[1], member)
    end
  end
  local at = now + wait - window
  for i = 1, limit do
    redis.call('ZADD', KEYS[1], fmt(at), 'p:' .. ARGV[4] .. ':f' .. i)
  end
  added = added + limit
  if at > last then last = at end
end
if added > 0 then
  local ttl = math.ceil((last - now + window + keep) * 1000) + 1000
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
end
local day = math.floor(now / 86400)
local stored = redis.call('HMGET', KEYS[2], 'day', 'used')
local used = 0
if tonumber(stored[1]) == day then used = tonumber(stored[2]) or 0 end
local raised = used
if ghl_daily >= 0 and daily_remaining >= 0 and ghl_daily - daily_remaining > raised then
  raised = ghl_daily - daily_remaining
end
if is_429 and daily_remaining == 0 then raised = tonumber(ARGV[12]) end
if raised > used then
  redis.call('HSET', KEYS[2], 'day', day, 'used', raised)
  redis.call('EXPIRE', KEYS[2], 2 * 86400)
end
return {fmt(now), added, dropped}
"""
)

# KEYS: hints.  ARGV: field, calls, mode ('set' | 'max'), ttl, what is assumed when unknown
_LEARN = """
local calls = tonumber(ARGV[2])
if ARGV[3] == 'max' then
  local known = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or ARGV[5]) or 0
  if known > calls then calls = known end
end
redis.call('HSET', KEYS[1], ARGV[1], calls)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return calls
"""


class RateLimitDeferred(SocialbridgeError):
    """No slot for a GHL request of ``location_id`` within ``RATE_LIMIT_WAIT_IN_PROCESS``.

    Not an error of the call and not a failed attempt: the event should give its worker back
    and run again in ``wait`` seconds (``at``), with ``booking`` (the slots reserved for that
    run) when there is one. Without a booking the slot was too far to reserve (beyond the
    deferral horizon, or the daily budget is spent): ``at`` is only the earliest time worth
    trying again.
    """

    def __init__(self, location_id: str, *, wait: float, booking: Booking | None) -> None:
        self.location_id = location_id
        self.wait = max(0.0, wait)
        self.booking = booking
        self.at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.wait)
        booked = f", {len(booking.slots)} slot(s) booked" if booking is not None else ""
        super().__init__(
            f"GHL rate limit of location {location_id}: next slot in {self.wait:.1f} s{booked}"
        )

    @property
    def reserved(self) -> bool:
        """Whether slots were reserved for the next run."""
        return self.booking is not None

    def wake_in(self, early: float) -> float:
        """Seconds from now until the next run should start: ``early`` seconds before the slot
        (`wake_early`), counted from now rather than from when the slot was reserved, so that
        the time spent giving the attempt back is not added."""
        left = (self.at - dt.datetime.now(dt.UTC)).total_seconds()
        return max(0.0, left - early)


def wake_early(wait_in_process: float, *, threads: bool) -> float:
    """How long before its slot a deferred run starts: WAKE_EARLY_SECONDS, at most half of
    ``wait_in_process``, in a pool of threads. None in a pool of processes: each is one task at
    a time, and a process waiting for a slot would hold it from every other location's events
    (a worker of 32 threads spends about 5 of them per location at its limit)."""
    return min(WAKE_EARLY_SECONDS, wait_in_process / 2) if threads else 0.0


@dataclass(frozen=True)
class Slot:
    """A moment (Redis time, seconds since the epoch) at which one request may be sent."""

    member: str
    at: float


@dataclass(frozen=True)
class Reservation:
    """What `RateLimiter.reserve` answered: the slots given, or the earliest one could have."""

    reserved: bool
    now: float
    at: float
    slots: tuple[Slot, ...] = ()


@dataclass(frozen=True)
class Booking:
    """Slots reserved for an event's next run, carried with its re-sent message (as JSON)."""

    location_id: str
    slots: tuple[Slot, ...]

    @property
    def first(self) -> float:
        return self.slots[0].at

    def to_json(self) -> dict[str, Any]:
        return {
            "location_id": self.location_id,
            "slots": [[slot.member, slot.at] for slot in self.slots],
        }

    @classmethod
    def from_json(cls, value: object) -> Booking | None:
        """The booking of a message, or None for anything that is not one (logged)."""
        try:
            if not isinstance(value, Mapping):
                raise TypeError("not an object")
            location = value["location_id"]
            raw = value["slots"]
            if not isinstance(location, str) or not location or not isinstance(raw, list):
                raise TypeError("location_id or slots of the wrong type")
            slots = tuple(
                Slot(str(member), float(at))
                for member, at in raw
                if isinstance(member, str) and member.startswith(f"{BOOKED}:")
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("ghl.rate_limit.bad_booking", error=str(exc))
            return None
        return cls(location, slots) if slots else None


class RateLimiter:
    """The slots of every location, in Redis; shared by the threads of a process.

    ``limit`` requests per ``window`` seconds and ``daily_limit`` per UTC day, per location.
    """

    def __init__(
        self,
        client: redis.Redis[bytes],
        *,
        limit: int,
        window: float,
        daily_limit: int,
        prefix: str = KEY_PREFIX,
    ) -> None:
        if limit < 1 or window <= 0 or daily_limit < 1:
            raise ValueError("limit, window and daily_limit must be positive")
        self.redis = client
        self.limit = limit
        self.window = window
        self.daily_limit = daily_limit
        self.prefix = prefix
        self._reserve = client.register_script(_RESERVE)
        self._retag = client.register_script(_RETAG)
        self._release = client.register_script(_RELEASE)
        self._steal = client.register_script(_STEAL)
        self._observe = client.register_script(_OBSERVE)
        self._learn = client.register_script(_LEARN)
        # Written by any thread without a lock: the worst race is the warning logged twice.
        # Everything else here is read-only after construction; the counts live in Redis and
        # change only inside Lua scripts, which Redis runs one at a time.
        self._warned_window = False

    def __repr__(self) -> str:
        return f"RateLimiter(limit={self.limit}, window={self.window}, daily={self.daily_limit})"

    @property
    def spacing(self) -> float:
        """Seconds between two slots given while a location is at its limit."""
        return self.window / self.limit

    def keys(self, location_id: str) -> tuple[str, str, str]:
        """The Redis keys of a location: its log, its daily counter, its calls per event."""
        # The braces keep a location's keys in one Redis Cluster slot, as a script needs.
        base = f"{self.prefix}{{{location_id}}}"
        return f"{base}:log", f"{base}:daily", f"{base}:calls"

    def reserve(
        self,
        location_id: str,
        *,
        count: int = 1,
        horizon: float,
        kind: str = HELD,
        calls_of: str = "",
        default_calls: int = 1,
    ) -> Reservation:
        """Slots for ``count`` requests (at least the calls learned for ``calls_of``, an event
        type, else ``default_calls``), when the first comes within ``horizon`` seconds.

        Otherwise nothing is reserved, and ``at`` is the earliest slot (or the next UTC
        midnight when the daily budget is spent).
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        log_key, daily_key, hints_key = self.keys(location_id)
        reply = self._reserve(
            keys=[log_key, daily_key, hints_key],
            args=[
                self.limit,
                _num(self.window),
                self.daily_limit,
                count,
                _num(horizon),
                kind,
                secrets.token_hex(6),
                calls_of,
                max(1, default_calls),
                _num(RESYNC_GRACE_SECONDS),
            ],
        )
        now = _float(reply[1])
        if _text(reply[0]) != "1":
            return Reservation(False, now, _float(reply[2]))
        slots = tuple(_slots(reply[2:]))
        return Reservation(True, now, slots[0].at, slots)

    def retag(self, location_id: str, slots: Sequence[Slot], kind: str) -> tuple[float, list[Slot]]:
        """Give ``slots`` to ``kind`` (claim a booking: HELD; hand slots back: BOOKED).

        Returns Redis's time and the slots that still exist, renamed; one taken over by a
        running event, or dropped after a 429, is missing.
        """
        if not slots:
            return self.now(), []
        reply = self._retag(
            keys=[self.keys(location_id)[0]], args=[kind, *(slot.member for slot in slots)]
        )
        return _float(reply[0]), _slots(reply[1:])

    def release(self, location_id: str, slots: Sequence[Slot]) -> int:
        """Give back unused slots (their daily count too); returns how many were still there."""
        if not slots:
            return 0
        log_key, daily_key, _ = self.keys(location_id)
        reply = self._release(keys=[log_key, daily_key], args=[slot.member for slot in slots])
        return int(reply[1])

    def steal(self, location_id: str, *, ahead: float) -> tuple[float, Slot | None]:
        """Take over the earliest booking due between LATE_SLOT_SECONDS ago and ``ahead``
        seconds from now, for a running event; Redis's time and the slot (None: there is none).
        """
        reply = self._steal(
            keys=[self.keys(location_id)[0]],
            args=[_num(LATE_SLOT_SECONDS), _num(ahead), secrets.token_hex(6)],
        )
        now = _float(reply[0])
        if len(reply) < 3:
            return now, None
        return now, Slot(_text(reply[1]), _float(reply[2]))

    def observe(
        self,
        location_id: str,
        limits: RateLimit,
        *,
        status: int,
        retry_after: float | None = None,
    ) -> int:
        """Bring the location's log and daily count up to what one GHL answer announced.

        Returns the phantom requests added (0 when GHL counted no more than the log holds).
        """
        log_key, daily_key, _ = self.keys(location_id)
        reply = self._observe(
            keys=[log_key, daily_key],
            args=[
                self.limit,
                _num(self.window),
                _num(RESYNC_GRACE_SECONDS),
                secrets.token_hex(6),
                _or_absent(limits.max),
                _or_absent(limits.remaining),
                -1,
                _or_absent(limits.daily_limit),
                _or_absent(limits.daily_remaining),
                "1" if status == 429 else "0",
                -1 if retry_after is None else _num(retry_after),
                self.daily_limit,
                _num(LATE_SLOT_SECONDS),
            ],
        )
        added, dropped = int(reply[1]), int(reply[2])
        announced = limits.interval_ms
        if announced is not None and abs(announced / 1000 - self.window) > 0.001:
            if not self._warned_window:
                # GHL counts over another window than ours: our slots may crowd its window.
                log.warning(
                    "ghl.rate_limit.window_differs",
                    location_id=location_id,
                    ghl_window_ms=announced,
                    window_s=self.window,
                )
            self._warned_window = True
        if added or dropped:
            log.info(
                "ghl.rate_limit.resync",
                location_id=location_id,
                status=status,
                phantoms=added,
                bookings_dropped=dropped,
                remaining=limits.remaining,
                daily_remaining=limits.daily_remaining,
            )
        return added

    def learn(
        self,
        location_id: str,
        event_type: str,
        calls: int,
        *,
        at_least: bool,
        default_calls: int = 1,
    ) -> None:
        """Remember how many requests an event of ``event_type`` needs at this location, for
        the next events' reservations. ``at_least``: only raise what is known (or, when
        nothing is, ``default_calls``)."""
        self._learn(
            keys=[self.keys(location_id)[2]],
            args=[
                event_type,
                max(1, calls),
                "max" if at_least else "set",
                CALLS_HINT_SECONDS,
                max(1, default_calls),
            ],
        )

    def now(self) -> float:
        """Redis's clock, seconds since the epoch."""
        seconds, micros = self.redis.time()
        return float(seconds) + float(micros) / 1_000_000

    def used(self, location_id: str) -> list[tuple[str, float]]:
        """The location's log, oldest first (for operators and tests)."""
        entries = self.redis.zrange(self.keys(location_id)[0], 0, -1, withscores=True)
        return [(_text(member), float(score)) for member, score in entries]

    def used_today(self, location_id: str) -> int:
        """Requests counted today (UTC, Redis's day) against the daily budget."""
        day, used = self.redis.hmget(self.keys(location_id)[1], ["day", "used"])
        if day is None or int(day) != math.floor(self.now() / 86400):
            return 0
        return int(used or 0)


class Gate:
    """One event run's use of the limiter; `GHLClient` asks it before and after each request.

    It takes a slot before every request: one of the slots it holds (a booking given to the run,
    or reserved with the run's first request), else a new one. A slot due within
    ``wait_in_process`` is waited for here; a later one, when this run has already sent requests
    to the location, is replaced by a booking due about now taken over from an event that has not
    started yet. Otherwise the run ends with `RateLimitDeferred`, carrying a booking (when the
    slot comes within ``defer_horizon``) of as many slots as the next run will need: the
    requests this run made, which it will repeat, this one, and what the event type is known to
    need.

    With Redis unavailable the gate lets the run's requests through unlimited (logged once):
    GHL's own 429s are still handled, and the bridge keeps working without Redis's help.

    Not shared between threads: each event run has its own.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        event_type: str = "",
        default_calls: int = 1,
        wait_in_process: float,
        defer_horizon: float,
        booking: Booking | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limiter = limiter
        self.event_type = event_type
        self.default_calls = default_calls
        self.wait_in_process = wait_in_process
        self.defer_horizon = max(defer_horizon, wait_in_process)
        self._booking = booking
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._held: dict[str, list[Slot]] = {}
        self._calls: dict[str, int] = {}
        self._anchor: tuple[float, float] | None = None
        self._unlimited = False
        self.waited = 0.0

    def __repr__(self) -> str:
        return f"Gate(event_type={self.event_type!r}, calls={self.calls})"

    @property
    def calls(self) -> int:
        """Requests this run has sent (or is about to), every location together."""
        return sum(self._calls.values())

    def before_request(self, location_id: str) -> None:
        """Take a slot for one request to ``location_id``: return when it may be sent.

        Raises RateLimitDeferred when the run should end and come again later.
        """
        with self._lock:
            if not self._unlimited:
                try:
                    self._take(location_id)
                except redis.RedisError as exc:
                    self._unlimited = True
                    log.warning(
                        "ghl.rate_limit.unavailable", location_id=location_id, error=repr(exc)
                    )
            self._calls[location_id] = self._calls.get(location_id, 0) + 1

    def after_response(self, location_id: str, status: int, headers: Mapping[str, str]) -> None:
        """Re-synchronize the location's log from GHL's answer (its `X-RateLimit-*`)."""
        if self._unlimited:
            return
        try:
            if status == 429:
                # GHL refused: the slots held for later requests of this run would meet the
                # same refusal. Give them back; the next request takes one after Retry-After.
                with self._lock:
                    held = self._held.pop(location_id, [])
                metrics.limiter_slots_given_back(metrics.SLOT_429, len(held))
                self.limiter.release(location_id, held)
            self.limiter.observe(
                location_id,
                parse_rate_limit(headers),
                status=status,
                retry_after=retry_delay(status, headers) if status == 429 else None,
            )
        except redis.RedisError as exc:
            log.warning("ghl.rate_limit.resync_failed", location_id=location_id, error=repr(exc))

    def close(self, *, completed: bool) -> None:
        """Give back the slots the run did not use; after a ``completed`` run (one that made
        every request it needed) remember how many that was, per location."""
        with self._lock:
            held, self._held = self._held, {}
            if self._booking is not None:
                # Handed over but never claimed: the run ended before asking for a slot.
                held.setdefault(self._booking.location_id, []).extend(self._booking.slots)
                self._booking = None
            if self._unlimited:
                return
            try:
                for location_id, slots in held.items():
                    if slots:
                        log.debug(
                            "ghl.rate_limit.slots_unused",
                            location_id=location_id,
                            slots_at=[round(slot.at, 3) for slot in slots],
                        )
                        metrics.limiter_slots_given_back(metrics.SLOT_UNUSED, len(slots))
                    self.limiter.release(location_id, slots)
                if completed and self.event_type:
                    for location_id, calls in self._calls.items():
                        self.limiter.learn(location_id, self.event_type, calls, at_least=False)
            except redis.RedisError as exc:
                log.warning("ghl.rate_limit.release_failed", error=repr(exc))

    # -- taking a slot -------------------------------------------------------------------------

    def _take(self, location_id: str) -> None:
        self._claim_booking(location_id)
        held = self._held.setdefault(location_id, [])
        while held:
            slot = held[0]
            wait = slot.at - self._now()
            if wait > self.wait_in_process:
                # Come too early (the worker's clock runs ahead of Redis's): keep the slots.
                self._defer_with_held(location_id, wait)
            held.pop(0)
            if wait >= -LATE_SLOT_SECONDS:
                self._wait(location_id, slot, wait, "held")
                return
            # Too late to use without crowding GHL's window: give it back, take another.
            log.info(
                "ghl.rate_limit.slot_late",
                location_id=location_id,
                slot_at=round(slot.at, 3),
                late_ms=round(-wait * 1000),
            )
            metrics.limiter_slots_given_back(metrics.SLOT_LATE)
            self.limiter.release(location_id, [slot])
        first = self._calls.get(location_id, 0) == 0
        reservation = self.limiter.reserve(
            location_id,
            horizon=self.wait_in_process,
            calls_of=self.event_type if first else "",
            default_calls=self.default_calls,
        )
        self._mark(reservation.now)
        if reservation.reserved:
            slots = list(reservation.slots)
            self._held[location_id] = slots[1:]
            self._wait(location_id, slots[0], slots[0].at - reservation.now, "reserved")
            return
        if not first:
            now, stolen = self.limiter.steal(location_id, ahead=self.wait_in_process)
            self._mark(now)
            if stolen is not None:
                self._wait(location_id, stolen, stolen.at - now, "taken_over")
                return
        self._defer(location_id)

    def _claim_booking(self, location_id: str) -> None:
        booking = self._booking
        if booking is None or booking.location_id != location_id:
            return
        self._booking = None
        now, slots = self.limiter.retag(location_id, booking.slots, HELD)
        self._mark(now)
        log.debug(
            "ghl.rate_limit.booking_claimed",
            location_id=location_id,
            first_at=round(booking.first, 3),
            late_ms=round((now - booking.first) * 1000, 1),
            booked=len(booking.slots),
        )
        if len(slots) < len(booking.slots):
            log.info(
                "ghl.rate_limit.booking_taken",
                location_id=location_id,
                booked=len(booking.slots),
                left=len(slots),
            )
        self._held[location_id] = sorted(slots, key=lambda slot: slot.at)

    def _defer(self, location_id: str) -> NoReturn:
        """End the run: book the slots its next run needs, when they come soon enough."""
        needed = self._calls.get(location_id, 0) + 1
        if self.event_type:
            self.limiter.learn(
                location_id,
                self.event_type,
                needed,
                at_least=True,
                default_calls=self.default_calls,
            )
        booked = self.limiter.reserve(
            location_id,
            count=needed,
            horizon=self.defer_horizon,
            kind=BOOKED,
            calls_of=self.event_type,
            default_calls=self.default_calls,
        )
        self._mark(booked.now)
        booking = Booking(location_id, booked.slots) if booked.reserved else None
        log.info(
            "ghl.rate_limit.deferred",
            location_id=location_id,
            wait_s=round(booked.at - booked.now, 3),
            booked=len(booked.slots),
            calls=self.calls,
        )
        metrics.limiter_deferred()
        raise RateLimitDeferred(location_id, wait=booked.at - booked.now, booking=booking)

    def _defer_with_held(self, location_id: str, wait: float) -> NoReturn:
        """End the run before a slot it holds but cannot wait for: the slots become the next
        run's booking, with more after them when the next run will need more (it repeats
        the requests this one made)."""
        held = self._held.pop(location_id, [])
        now, slots = self.limiter.retag(location_id, held, BOOKED)
        self._mark(now)
        missing = self._calls.get(location_id, 0) + 1 - len(slots)
        if missing > 0:
            more = self.limiter.reserve(
                location_id, count=missing, horizon=self.defer_horizon, kind=BOOKED
            )
            slots.extend(more.slots)
        booking = Booking(location_id, tuple(slots)) if slots else None
        log.info(
            "ghl.rate_limit.deferred",
            location_id=location_id,
            wait_s=round(wait, 3),
            booked=len(slots),
            calls=self.calls,
        )
        metrics.limiter_deferred()
        raise RateLimitDeferred(location_id, wait=wait, booking=booking)

    def _wait(self, location_id: str, slot: Slot, wait: float, source: str) -> None:
        if wait > 0:
            log.debug("ghl.rate_limit.wait", location_id=location_id, wait_ms=round(wait * 1000, 1))
            self._sleep(wait)
            self.waited += wait
            metrics.limiter_waited(wait)
        # How late the request leaves after its slot (Redis's clock, as this process reckons
        # it): what LATE_SLOT_SECONDS and the margin below GHL's limit have to cover.
        log.debug(
            "ghl.rate_limit.slot",
            location_id=location_id,
            source=source,
            slot_at=round(slot.at, 3),
            late_ms=round((self._now() - slot.at) * 1000, 1),
        )

    def _mark(self, redis_now: float) -> None:
        self._anchor = (redis_now, self._monotonic())

    def _now(self) -> float:
        """Redis's time now, from its last answer and the time elapsed here since."""
        if self._anchor is None:
            self._mark(self.limiter.now())
        assert self._anchor is not None
        redis_now, then = self._anchor
        return redis_now + (self._monotonic() - then)


def _num(value: float) -> str:
    return f"{value:.6f}"


def _or_absent(value: int | None) -> int:
    return -1 if value is None else value


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _float(value: object) -> float:
    return float(_text(value))


def _slots(flat: Sequence[object]) -> list[Slot]:
    return [
        Slot(_text(flat[index]), _float(flat[index + 1])) for index in range(0, len(flat) - 1, 2)
    ]
