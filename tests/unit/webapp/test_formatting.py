"""The console's template filters for moments and ages."""

from __future__ import annotations

import datetime as dt

import pytest

from webapp.formatting import age, duration, utc


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, ""),
        (0.4, "0 s"),
        (59.9, "59 s"),
        (60, "1 min"),
        (3599, "59 min"),
        (3600, "1 h"),
        (3600 + 5 * 60, "1 h 5 min"),
        (86400, "1 d"),
        (86400 * 3 + 4 * 3600 + 59, "3 d 4 h"),
    ],
)
def test_ages(seconds: float | None, shown: str) -> None:
    assert age(seconds) == shown


def test_moments_are_shown_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))

    assert utc(dt.datetime(2026, 11, 23, 11, 0, 5, tzinfo=paris)) == "2026-11-23 10:00:05 UTC"
    assert utc(None) == ""


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, ""),
        (0.0349, "35 ms"),
        (0.9994, "999 ms"),
        (4.21, "4.2 s"),
        (59.94, "59.9 s"),
        (185, "3 min"),
    ],
)
def test_durations(seconds: float | None, shown: str) -> None:
    span = None if seconds is None else dt.timedelta(seconds=seconds)
    assert duration(span) == shown
