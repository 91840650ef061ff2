"""The sandbox's statistics: the same numbers for the same day, whatever period asks for it."""

from __future__ import annotations

from datetime import date

from sandbox.ghl.seed import seed_location
from sandbox.ghl.stats import (
    build_statistics,
    day_names,
    default_period,
    period,
    previous_period,
    profile_stats,
)

DEMO = seed_location("loc_demo")
FACEBOOK = next(a for a in DEMO.accounts if a.platform == "facebook" and a.profile_id)
ALL = [a for a in DEMO.accounts if a.profile_id]


def test_periods() -> None:
    assert default_period(date(2026, 3, 10)) == period(date(2026, 3, 3), date(2026, 3, 9))
    assert previous_period(period(date(2026, 3, 1), date(2026, 3, 3))) == period(
        date(2026, 2, 26), date(2026, 2, 28)
    )
    assert period(date(2026, 3, 2), date(2026, 3, 1)) == []
    assert day_names(period(date(2026, 3, 9), date(2026, 3, 15))) == [
        "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
    ]  # fmt: skip


def test_a_day_has_the_same_numbers_in_every_period() -> None:
    day = date(2026, 1, 15)
    days = period(date(2026, 1, 1), date(2026, 1, 31))

    alone = profile_stats(FACEBOOK, seed=0, location_id="loc_demo", days=[day])
    within = profile_stats(FACEBOOK, seed=0, location_id="loc_demo", days=days)

    index = days.index(day)
    for name in ("posts", "impressions", "likes", "comments", "shares", "reach", "followers"):
        assert getattr(within, name)[index] == getattr(alone, name)[0], name
    assert within.gender == alone.gender
    assert within.age == alone.age


def test_numbers_depend_on_the_seed_the_location_and_the_day() -> None:
    days = period(date(2026, 1, 1), date(2026, 1, 7))
    base = profile_stats(FACEBOOK, seed=0, location_id="loc_demo", days=days)

    assert profile_stats(FACEBOOK, seed=1, location_id="loc_demo", days=days) != base
    assert profile_stats(FACEBOOK, seed=0, location_id="loc_other", days=days) != base
    later = profile_stats(FACEBOOK, seed=0, location_id="loc_demo", days=previous_period(days))
    assert later.impressions != base.impressions


def test_reach_is_at_most_the_impressions_and_followers_never_negative() -> None:
    days = period(date(1990, 1, 1), date(1990, 3, 1))  # long before the followers' origin

    stats = profile_stats(FACEBOOK, seed=0, location_id="loc_demo", days=days)

    assert all(r <= i for r, i in zip(stats.reach, stats.impressions, strict=True))
    assert min(stats.followers) >= 0


def test_without_a_comparison_period_there_is_no_change() -> None:
    days = period(date(2026, 2, 1), date(2026, 2, 3))
    stats = [profile_stats(a, seed=0, location_id="loc_demo", days=days) for a in ALL]

    results = build_statistics(stats, days=days)

    breakdowns = results["breakdowns"]
    for name in ("posts", "impressions", "reach"):
        assert "totalChange" not in breakdowns[name]
        assert all("change" not in entry for entry in breakdowns[name]["platforms"].values())
    assert all("change" not in entry for entry in breakdowns["engagement"].values())


def test_change_is_the_difference_with_the_comparison_period() -> None:
    days = period(date(2026, 2, 8), date(2026, 2, 14))
    before = previous_period(days)
    now = [profile_stats(a, seed=0, location_id="loc_demo", days=days) for a in ALL]
    then = [profile_stats(a, seed=0, location_id="loc_demo", days=before) for a in ALL]

    results = build_statistics(now, days=days, previous=then)

    posts = results["breakdowns"]["posts"]
    assert posts["totalChange"] == sum(sum(p.posts) for p in now) - sum(sum(p.posts) for p in then)
    assert results["totals"]["followers"] == sum(p.followers[-1] for p in now)


def test_no_profile_is_all_zeros() -> None:
    days = period(date(2026, 2, 1), date(2026, 2, 2))

    results = build_statistics([], days=days)

    assert results["totals"] == {
        "posts": 0, "likes": 0, "followers": 0, "impressions": 0, "comments": 0,
    }  # fmt: skip
    assert results["postPerformance"]["impressions"] == [0, 0]
    assert results["dayRange"] == ["Sun", "Mon"]
