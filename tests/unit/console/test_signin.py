"""Sign-in: right and wrong passwords, the account lock, the per-address throttle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis

from console.signin import LOCK_AFTER, LOCK_FOR, Refusal, sign_in
from console.throttle import AddressThrottle
from store import Store, UserRole

PASSWORD = "correct horse battery"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_the_right_password_signs_in(store: Store, throttle: AddressThrottle) -> None:
    store.add_user("ann@example.com", PASSWORD, UserRole.ADMIN)

    result = sign_in(
        store, throttle, email="Ann@example.com", password=PASSWORD, address="10.0.0.1", now=NOW
    )

    assert result.user is not None
    assert result.user.email == "ann@example.com"
    assert result.user.last_sign_in_at == NOW
    assert result.refusal is None


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    store: Store, throttle: AddressThrottle
) -> None:
    store.add_user("ann@example.com", PASSWORD)

    wrong = sign_in(store, throttle, email="ann@example.com", password="nope", address="a")
    unknown = sign_in(store, throttle, email="zed@example.com", password="nope", address="a")

    assert wrong.refusal is unknown.refusal is Refusal.WRONG
    assert wrong.message == unknown.message == "Wrong email or password."
    assert wrong.user is None


def test_the_account_locks_after_ten_failures_even_for_the_right_password(
    store: Store, throttle: AddressThrottle
) -> None:
    store.add_user("ann@example.com", PASSWORD)
    results = [
        sign_in(store, throttle, email="ann@example.com", password="nope", address="a", now=NOW)
        for _ in range(LOCK_AFTER)
    ]

    assert [r.refusal for r in results[:-1]] == [Refusal.WRONG] * (LOCK_AFTER - 1)
    assert results[-1].refusal is Refusal.LOCKED
    assert results[-1].retry_after == LOCK_FOR.total_seconds()
    assert "locked" in results[-1].message
    assert "15 min" in results[-1].message
    later = NOW + timedelta(minutes=14)
    right = sign_in(
        store, throttle, email="ann@example.com", password=PASSWORD, address="b", now=later
    )
    assert right.refusal is Refusal.LOCKED
    assert right.retry_after == 60
    after = NOW + LOCK_FOR
    again = sign_in(
        store, throttle, email="ann@example.com", password=PASSWORD, address="b", now=after
    )
    assert again.user is not None


def test_a_success_resets_the_count_of_failures(store: Store, throttle: AddressThrottle) -> None:
    store.add_user("ann@example.com", PASSWORD)
    for _ in range(LOCK_AFTER - 1):
        sign_in(store, throttle, email="ann@example.com", password="nope", address="a")
    sign_in(store, throttle, email="ann@example.com", password=PASSWORD, address="a")

    result = sign_in(store, throttle, email="ann@example.com", password="nope", address="a")

    assert result.refusal is Refusal.WRONG


def test_an_address_that_fails_too_often_is_refused_whatever_it_tries(
    store: Store, redis_client: redis.Redis
) -> None:
    store.add_user("ann@example.com", PASSWORD)
    throttle = AddressThrottle(redis_client, limit=3)
    for number in range(3):
        sign_in(store, throttle, email=f"u{number}@example.com", password="x", address="1.2.3.4")

    refused = sign_in(
        store, throttle, email="ann@example.com", password=PASSWORD, address="1.2.3.4"
    )
    elsewhere = sign_in(
        store, throttle, email="ann@example.com", password=PASSWORD, address="5.6.7.8"
    )

    assert refused.refusal is Refusal.THROTTLED
    assert 0 < refused.retry_after <= throttle.window
    assert "your address" in refused.message
    assert elsewhere.user is not None
    # The refused attempt was not checked, so the account counted no failure.
    found = store.find_user("ann@example.com")
    assert found is not None
    assert found.failed_attempts == 0
