from __future__ import annotations

import datetime as dt

import pytest

from socialbridge.httputil import parse_retry_after

NOW = dt.datetime(2025, 3, 1, 23, 59, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        ("Sun, 02 Mar 2025 00:00:00 GMT", 60.0),
        ("Sat, 01 Mar 2025 12:00:00 GMT", 0.0),  # already past
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds
