"""Deterministic Social Planner statistics, shaped as the spec's `POST /statistics` answers.

Each profile's numbers on one day are derived from `(seed, location_id, profile_id, day)`
alone, so any period can be asked for and the same day always has the same numbers, whichever
range it is part of and whenever it is asked. Every number in an answer is a sum over profiles,
so the answer for a batch of profiles equals the sum of the answers for its parts: a client
that splits its profiles into batches of at most 100 and adds them up gets the same totals as
one large call would. Three consequences:

- `change`/`totalChange` are absolute differences with the comparison period (additive), not
  percentages; an answer without a comparison period has none;
- `totals.followers` and the followers' `total` are the count on the last day of the period;
- `demographics.gender.*.percentage` is the one derived, non-additive value: recompute it
  from the summed `total`s.

The periods, as GHL documents them: without a range, the last 7 days with today excluded,
compared with the 7 days before (Version 2021-07-28 always, v3 when no `currentRange` is
sent); with v3's `currentRange`, the whole UTC days from its start to its end, compared with
`prevRange` when one is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sandbox.ghl.seed import Account, derived_random

DAYS = 7
"""Length of GHL's default period."""

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_AGE_BUCKETS = ("13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
_GENDERS = ("male", "female", "unknown")
_FOLLOWERS_ORIGIN = date(2025, 1, 1)
"""Followers grow from this day on (and shrink before it, down to zero)."""


@dataclass(frozen=True)
class ProfileStats:
    """One profile's numbers, one entry per day of a period (oldest first)."""

    platform: str
    posts: tuple[int, ...]
    impressions: tuple[int, ...]
    likes: tuple[int, ...]
    comments: tuple[int, ...]
    shares: tuple[int, ...]
    reach: tuple[int, ...]
    followers: tuple[int, ...]
    gender: dict[str, int]
    age: dict[str, int]

    @property
    def engagement(self) -> int:
        return sum(self.likes) + sum(self.comments) + sum(self.shares)


Metric = Callable[[ProfileStats], int]


def default_period(today: date) -> list[date]:
    """GHL's default period: the 7 days before `today`, oldest first."""
    return [today - timedelta(days=back) for back in range(DAYS, 0, -1)]


def period(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included (empty when `last` is before `first`)."""
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def previous_period(days: Sequence[date]) -> list[date]:
    """The period of the same length that ends the day before `days` begins."""
    return [day - timedelta(days=len(days)) for day in days]


def day_names(days: Iterable[date]) -> list[str]:
    """`dayRange`: the name of each day (`["Tue", …, "Mon"]`)."""
    return [_DAY_NAMES[day.weekday()] for day in days]


def profile_stats(
    account: Account, *, seed: int, location_id: str, days: Sequence[date]
) -> ProfileStats:
    """The deterministic numbers of one account (which must have a profileId) over `days`."""
    profile = derived_random(seed, location_id, "profile", account.profile_id)
    followers_base = profile.randint(100, 5000)
    followers_growth = profile.randint(0, 25)
    gender = {name: profile.randint(0, 2000) for name in _GENDERS}
    age = {bucket: profile.randint(0, 800) for bucket in _AGE_BUCKETS}

    posts, impressions, likes, comments, shares, reach, followers = ([] for _ in range(7))
    for day in days:
        rng = derived_random(seed, location_id, "stats", account.profile_id, day.isoformat())
        seen = rng.randint(50, 2000)
        impressions.append(seen)
        posts.append(rng.randint(0, 3))
        likes.append(rng.randint(0, 150))
        comments.append(rng.randint(0, 30))
        shares.append(rng.randint(0, 6))
        reach.append(rng.randint(seen // 3, seen))
        grown = followers_growth * (day - _FOLLOWERS_ORIGIN).days + rng.randint(0, 25)
        followers.append(max(0, followers_base + grown))
    return ProfileStats(
        platform=account.platform,
        posts=tuple(posts),
        impressions=tuple(impressions),
        likes=tuple(likes),
        comments=tuple(comments),
        shares=tuple(shares),
        reach=tuple(reach),
        followers=tuple(followers),
        gender=gender,
        age=age,
    )


def build_statistics(
    profiles: Iterable[ProfileStats],
    *,
    days: Sequence[date],
    previous: Iterable[ProfileStats] | None = None,
) -> dict[str, Any]:
    """The `results` object of the statistics answer: the sum over `profiles` for `days`.

    `previous` holds the same profiles over the comparison period, in the same order; without
    it the answer has no `change`/`totalChange`, as v3 answers a `currentRange` alone.
    """
    current = list(profiles)
    before = None if previous is None else list(previous)
    platforms = sorted({profile.platform for profile in current})
    length = len(days)

    def on(platform: str, group: list[ProfileStats]) -> list[ProfileStats]:
        return [profile for profile in group if profile.platform == platform]

    def series(name: str, group: list[ProfileStats]) -> list[int]:
        return [sum(getattr(p, name)[day] for p in group) for day in range(length)]

    def with_change(
        entry: dict[str, Any], key: str, metric: Metric, platform: str | None
    ) -> dict[str, Any]:
        if before is not None:
            now = current if platform is None else on(platform, current)
            then = before if platform is None else on(platform, before)
            entry[key] = sum(metric(p) for p in now) - sum(metric(p) for p in then)
        return entry

    def breakdown(metric: Metric) -> dict[str, Any]:
        entry = with_change({"total": sum(metric(p) for p in current)}, "totalChange", metric, None)
        entry["platforms"] = {
            platform: with_change(
                {"value": sum(metric(p) for p in on(platform, current))}, "change", metric, platform
            )
            for platform in platforms
        }
        return entry

    def engagement(platform: str) -> dict[str, Any]:
        group = on(platform, current)
        entry = {
            "likes": sum(sum(p.likes) for p in group),
            "comments": sum(sum(p.comments) for p in group),
            "shares": sum(sum(p.shares) for p in group),
        }
        return with_change(entry, "change", lambda p: p.engagement, platform)

    def last(name: str, group: list[ProfileStats]) -> int:
        return series(name, group)[-1] if length else 0

    gender_totals = {gender: sum(p.gender[gender] for p in current) for gender in _GENDERS}
    audience = sum(gender_totals.values())
    return {
        "dayRange": day_names(days),
        "totals": {
            "posts": sum(sum(p.posts) for p in current),
            "likes": sum(sum(p.likes) for p in current),
            "followers": last("followers", current),
            "impressions": sum(sum(p.impressions) for p in current),
            "comments": sum(sum(p.comments) for p in current),
        },
        "postPerformance": {
            "posts": {platform: series("posts", on(platform, current)) for platform in platforms},
            "impressions": series("impressions", current),
            "likes": series("likes", current),
            "comments": series("comments", current),
        },
        "breakdowns": {
            "posts": breakdown(lambda p: sum(p.posts)),
            "impressions": breakdown(lambda p: sum(p.impressions)),
            "reach": breakdown(lambda p: sum(p.reach)),
            "engagement": {platform: engagement(platform) for platform in platforms},
        },
        "platformTotals": {
            name: {
                platform: {
                    "total": (
                        last(name, on(platform, current))
                        if name == "followers"
                        else sum(series(name, on(platform, current)))
                    ),
                    "series": series(name, on(platform, current)),
                }
                for platform in platforms
            }
            for name in ("impressions", "followers", "likes")
        },
        "demographics": {
            "gender": {
                "totals": {
                    gender: {
                        "total": total,
                        "percentage": round(100 * total / audience, 2) if audience else 0,
                    }
                    for gender, total in gender_totals.items()
                }
            },
            "age": {
                "totals": {bucket: sum(p.age[bucket] for p in current) for bucket in _AGE_BUCKETS}
            },
        },
    }
