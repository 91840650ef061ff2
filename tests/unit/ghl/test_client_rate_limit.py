"""GHLClient with a rate-limit Gate: a slot before every request, resync after every answer.

The limiter is the real one on the tests' Redis; GHL is FakeGHL (canned answers) or the sandbox
GHL in process, whose own limiter counts like HighLevel's (a sliding window per location).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from ghl.client import GHLClient
from ghl.limiter import Gate, RateLimitDeferred, RateLimiter
from sandbox.ghl import DEFAULT_LOCATION, DEFAULT_TOKEN, create_sandbox_ghl_app
from socialbridge.errors import RetryableError
from tests.unit.ghl.conftest import TOKEN
from tests.unit.ghl.fake_ghl import BASE_URL, LOCATION, FakeGHL, error_response

LIMIT = 10
WINDOW = 1.0


@pytest.fixture
def limiter(redis_url: str) -> Iterator[RateLimiter]:
    client: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    yield RateLimiter(client, limit=LIMIT, window=WINDOW, daily_limit=100_000)
    client.close()


class Sleeps:
    """Stands for time.sleep: records the waits and lets time pass for real."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def gated(
    fake: FakeGHL, limiter: RateLimiter, *, wait_in_process: float = 0.5, **options: Any
) -> tuple[GHLClient, Sleeps]:
    sleeps = Sleeps()
    gate = Gate(
        limiter,
        wait_in_process=wait_in_process,
        defer_horizon=30.0,
        sleep=sleeps,
        **options,
    )
    http = httpx.Client(base_url=BASE_URL, transport=httpx.MockTransport(fake))
    return GHLClient(http, token=TOKEN, limiter=gate), sleeps


def fill(limiter: RateLimiter, location: str = LOCATION) -> None:
    while limiter.reserve(location, horizon=0).reserved:
        pass


def test_every_request_takes_a_slot_of_its_location(limiter: RateLimiter) -> None:
    fake = FakeGHL(tag_count=250)
    client, sleeps = gated(fake, limiter)

    client.list_tags(LOCATION)  # three pages
    client.statistics(LOCATION, ["prof_fb"])  # the location in the query

    assert len(fake.requests) == 4
    held = [member for member, _ in limiter.used(LOCATION) if member.startswith("h:")]
    assert len(held) == 4
    assert sleeps.waits == []


def test_a_slot_soon_is_waited_for_in_process(limiter: RateLimiter) -> None:
    fill(limiter)
    time.sleep(WINDOW - 0.2)
    fake = FakeGHL()
    client, sleeps = gated(fake, limiter)

    client.list_accounts(LOCATION)

    assert len(sleeps.waits) == 1
    assert 0 < sleeps.waits[0] <= 0.5
    assert len(fake.requests) == 1


def test_a_later_slot_defers_and_sends_nothing(limiter: RateLimiter) -> None:
    fill(limiter)
    fake = FakeGHL()
    client, sleeps = gated(fake, limiter)

    with pytest.raises(RateLimitDeferred) as raised:
        client.list_accounts(LOCATION)

    assert fake.requests == []
    assert sleeps.waits == []
    assert raised.value.reserved
    assert raised.value.wait == pytest.approx(WINDOW, abs=0.1)


def test_the_answer_brings_the_limiter_up_to_ghl_count(limiter: RateLimiter) -> None:
    fake = FakeGHL()
    client, _ = gated(fake, limiter)

    client.list_accounts(LOCATION)  # FakeGHL says 97 of 100 are left: 3 counted

    assert len(limiter.used(LOCATION)) == 3
    assert limiter.used_today(LOCATION) == 10  # 200,000 - 199,990


def test_a_429_blocks_the_location_until_retry_after(limiter: RateLimiter) -> None:
    fake = FakeGHL()
    fake.queue(error_response(429, "Too many requests", {"Retry-After": "5"}))
    client, _ = gated(fake, limiter)

    # The 429 is the attempt's failure, as without the limiter (retried through the store) ...
    with pytest.raises(RetryableError) as raised:
        client.list_accounts(LOCATION)
    assert raised.value.status == 429
    assert raised.value.retry_after == 5.0

    # ... and the location's next request waits for Retry-After: the next run is deferred.
    with pytest.raises(RateLimitDeferred) as deferred:
        client.list_accounts(LOCATION)
    assert deferred.value.wait == pytest.approx(5.0, abs=0.1)
    assert len(fake.requests) == 1


def test_a_429_without_retry_after_blocks_for_ghl_interval(limiter: RateLimiter) -> None:
    fake = FakeGHL()
    fake.queue(
        error_response(429, "Too many requests", {"X-RateLimit-Interval-Milliseconds": "3000"})
    )
    client, _ = gated(fake, limiter)
    with pytest.raises(RetryableError):
        client.list_accounts(LOCATION)

    with pytest.raises(RateLimitDeferred) as raised:
        client.list_accounts(LOCATION)

    assert raised.value.wait == pytest.approx(3.0, abs=0.1)


def test_a_short_retry_after_is_waited_for_in_process_by_the_next_request(
    limiter: RateLimiter,
) -> None:
    fake = FakeGHL()
    fake.queue(error_response(429, "Too many requests", {"Retry-After": "0.3"}))
    client, sleeps = gated(fake, limiter)
    with pytest.raises(RetryableError):
        client.list_accounts(LOCATION)

    assert client.list_accounts(LOCATION)

    assert len(fake.requests) == 2
    assert len(sleeps.waits) == 1
    assert sleeps.waits[0] == pytest.approx(0.3, abs=0.05)


def test_a_refused_token_sent_again_takes_another_slot(limiter: RateLimiter) -> None:
    # A fixed token is never refreshed; a source's 401 is sent again, in a slot of its own.
    class Source:
        def __init__(self) -> None:
            self.tokens = ["old-token", "new-token"]

        def current(self) -> str:
            return self.tokens[0]

        def refresh(self, rejected: str) -> str | None:
            self.tokens.pop(0)
            return self.tokens[0]

    fake = FakeGHL()
    fake.queue(error_response(401, "Invalid JWT"))
    gate = Gate(limiter, wait_in_process=0.5, defer_horizon=30.0)
    http = httpx.Client(base_url=BASE_URL, transport=httpx.MockTransport(fake))
    client = GHLClient(http, token=Source(), limiter=gate)

    client.list_accounts(LOCATION)

    assert len(fake.requests) == 2
    assert gate.calls == 2


def test_threads_sharing_one_budget_never_earn_a_429(limiter: RateLimiter) -> None:
    # The sandbox counts like GHL: 11 per second per location, a sliding window. Our limiter
    # allows 10 of them; four threads send 12 requests each, waiting in-process for slots.
    app = create_sandbox_ghl_app(rate_limit=LIMIT + 1, rate_window_seconds=WINDOW)
    errors: list[BaseException] = []

    def run() -> None:
        gate = Gate(limiter, wait_in_process=10.0, defer_horizon=30.0)
        http = httpx.Client(base_url=BASE_URL, transport=httpx.WSGITransport(app=app))
        try:
            with GHLClient(http, token=DEFAULT_TOKEN, limiter=gate) as client:
                for _ in range(12):
                    client.list_accounts(DEFAULT_LOCATION)
        except BaseException as exc:  # reported below, with the journal
            errors.append(exc)
        finally:
            http.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    journal = app.extensions["sandbox_ghl"].journal.entries()
    statuses = [entry["response_status"] for entry in journal]
    assert errors == []
    assert statuses.count(200) == 48
    assert 429 not in statuses
