"""LeaseKeeper: renewals, TASK_TIME_LIMIT without a kill, and the fence of a late attempt."""

from __future__ import annotations

import threading

import pytest

from workers.lease import AttemptOverran, LeaseKeeper, check_attempt


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Renewals:
    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.count = 0
        self.seen = threading.Event()

    def __call__(self) -> bool:
        self.count += 1
        self.seen.set()
        return self.answer


def test_renewals_stop_at_the_time_limit() -> None:
    clock, renew = Clock(), Renewals()
    keeper = LeaseKeeper(renew, every=0.01, time_limit=180, lease_seconds=20, monotonic=clock)
    with keeper:
        assert renew.seen.wait(5)  # renewing while within the limit
        clock.now += 180
        keeper._thread.join(5)  # the keeper stops by itself
        assert not keeper._thread.is_alive()
        stopped_at = renew.count
        assert keeper.overran
    assert renew.count == stopped_at


def test_within_the_limit_and_lease_the_attempt_writes_without_asking_the_store() -> None:
    asked: list[bool] = []

    def owned(live: bool) -> bool:
        asked.append(live)
        return True

    keeper = LeaseKeeper(Renewals(), every=60, time_limit=180, lease_seconds=20, owned=owned)
    with keeper:
        check_attempt()
        assert keeper.still_ours()
    assert asked == []


def test_past_the_time_limit_no_write_is_allowed() -> None:
    clock = Clock()
    keeper = LeaseKeeper(Renewals(), every=60, time_limit=180, lease_seconds=20, monotonic=clock)
    with keeper:
        clock.now += 180
        with pytest.raises(AttemptOverran, match=r"ran past TASK_TIME_LIMIT \(180 s\)"):
            check_attempt()
    check_attempt()  # outside an attempt: nothing to fence


def test_near_the_lease_end_the_store_says_whether_the_attempt_still_holds_it() -> None:
    clock, holds = Clock(), {True: True, False: True}

    def owned(live: bool) -> bool:
        return holds[live]

    keeper = LeaseKeeper(
        Renewals(), every=60, time_limit=180, lease_seconds=20, owned=owned, monotonic=clock
    )
    with keeper:
        clock.now += 19  # no renewal came through (the database was away)
        check_attempt()
        holds[True] = False  # the lease ran out in the store
        with pytest.raises(AttemptOverran, match="lost its lease"):
            check_attempt()
        assert keeper.still_ours()  # ran out, but no sweep took the event: record the outcome
        holds[False] = False  # another attempt took it
        assert not keeper.still_ours()


def test_a_lost_lease_fences_the_attempt_off() -> None:
    renew = Renewals(answer=False)
    keeper = LeaseKeeper(renew, every=0.01, time_limit=180, lease_seconds=20)
    with keeper:
        keeper._thread.join(5)  # stops after the renewal that found the event taken
        with pytest.raises(AttemptOverran, match="lost its lease"):
            keeper.check()
        assert not keeper.still_ours()
