from __future__ import annotations

import random

import pytest

from workers.retry import retry_delay


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 10, 30])
def test_full_jitter_stays_within_the_exponential_ceiling(attempt: int) -> None:
    rng = random.Random(attempt)
    ceiling = min(60.0, 2.0 * 2 ** (attempt - 1))
    delays = [retry_delay(attempt, base=2.0, cap=60.0, rng=rng) for _ in range(200)]
    assert all(0 <= d <= ceiling for d in delays)
    # Jitter really spreads the retries out.
    assert max(delays) - min(delays) > ceiling / 4


def test_the_servers_delay_is_a_floor_and_the_cap_a_ceiling() -> None:
    rng = random.Random(0)
    assert retry_delay(1, base=0.5, cap=60, server_delay=7, rng=rng) == 7
    assert retry_delay(1, base=0.5, cap=60, server_delay=600, rng=rng) == 60
