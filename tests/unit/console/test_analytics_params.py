"""The analytics query parameters: defaults, bounds, and a message naming a bad one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.analytics_params import ParameterError, segment_limit, tags_query, trend_query

PLATFORMS = ["all", "facebook"]


def test_a_trend_query_has_defaults() -> None:
    query = trend_query({}, PLATFORMS)

    assert (query.days, query.bucket, query.metric, query.platform) == (
        30, "day", "impressions", "all",
    )  # fmt: skip
    assert query.period.days == 30
    assert query.period.last < datetime.now(UTC).date() + timedelta(days=1)


def test_a_trend_query_reads_each_parameter() -> None:
    query = trend_query(
        {"period": "90", "bucket": "week", "metric": "followers", "platform": "facebook"},
        PLATFORMS,
    )

    assert (query.days, query.bucket, query.metric, query.platform) == (
        90, "week", "followers", "facebook",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"period": "0"}, "period: must be from 1 to 366, not 0"),
        ({"period": "367"}, "period: must be from 1 to 366, not 367"),
        ({"period": "7.5"}, "period: must be a whole number from 1 to 366, not '7.5'"),
        ({"period": "٣"}, "period: must be a whole number from 1 to 366, not '٣'"),
        ({"bucket": "month"}, "bucket: must be one of day, week, not 'month'"),
        ({"metric": "views"}, "metric: must be one of impressions, reach, likes"),
        ({"platform": "tiktok"}, "platform: must be one of all, facebook, not 'tiktok'"),
    ],
)
def test_a_bad_trend_parameter_is_named(args: dict[str, str], message: str) -> None:
    with pytest.raises(ParameterError) as raised:
        trend_query(args, PLATFORMS)

    assert str(raised.value).startswith(message)
    assert raised.value.name == message.split(":")[0]


def test_a_tags_query_defaults_to_weeks_and_ten_tags() -> None:
    query = tags_query({"period": "7"})

    assert (query.days, query.bucket, query.limit) == (7, "week", 10)
    assert tags_query({}, default_limit=5).limit == 5
    with pytest.raises(ParameterError, match=r"^limit: must be from 1 to 50, not 51$"):
        tags_query({"limit": "51"})


def test_a_segment_limit() -> None:
    assert segment_limit({}) == 10_000
    assert segment_limit({"limit": "3"}) == 3
    with pytest.raises(ParameterError, match=r"^limit: "):
        segment_limit({"limit": "10001"})
