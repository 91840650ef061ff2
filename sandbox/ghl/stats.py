"""Deterministic Social Planner statistics, shaped as the spec's `POST /statistics` 201 answer.

Each profile's numbers are derived from `(seed, location_id, profile_id)` alone, and every
number in the answer is a sum over profiles, so the answer for a batch of profiles equals the
sum of the answers for its parts: a client that splits its profiles into batches of at most
100 and adds them up gets the same totals as one large call would. Two consequences:

- `change`/`totalChange` are absolute differences with the previous seven days (additive),
  not percentages;
- `demographics.gender.*.percentage` is the one derived, non-additive value: recompute it
  from the summed `total`s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sandbox.ghl.seed import Account, derived_random

DAYS = 7
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_AGE_BUCKETS = ("13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
_GENDERS = ("male", "female", "unknown")


@dataclass(frozen=True)
class ProfileStats:
    """Seven days of one profile's numbers, and the totals of the seven days before."""

    platform: str
    posts: tuple[int, ...]
    impressions: tuple[int, ...]
    likes: tuple[int, ...]
    comments: tuple[int, ...]
    followers: tuple[int, ...]
    reach: int
    shares: int
    previous_posts: int
    previous_impressions: int
    previous_reach: int
    previous_engagement: int
    gender: dict[str, int]
    age: dict[str, int]

    @property
    def engagement(self) -> int:
        return sum(self.likes) + sum(self.comments) + self.shares


Metric = Callable[[ProfileStats], int]


def profile_stats(account: Account, *, seed: int, location_id: str) -> ProfileStats:
    """The deterministic numbers of one account (which must have a profileId)."""
    rng = derived_random(seed, location_id, "stats", account.profile_id)
    impressions = tuple(rng.randint(50, 2000) for _ in range(DAYS))
    followers_start = rng.randint(100, 5000)
    followers = []
    for _ in range(DAYS):
        followers_start += rng.randint(0, 25)
        followers.append(followers_start)
    return ProfileStats(
        platform=account.platform,
        posts=tuple(rng.randint(0, 3) for _ in range(DAYS)),
        impressions=impressions,
        likes=tuple(rng.randint(0, 150) for _ in range(DAYS)),
        comments=tuple(rng.randint(0, 30) for _ in range(DAYS)),
        followers=tuple(followers),
        reach=rng.randint(sum(impressions) // 3, sum(impressions)),
        shares=rng.randint(0, 40),
        previous_posts=rng.randint(0, 21),
        previous_impressions=rng.randint(350, 14000),
        previous_reach=rng.randint(100, 7000),
        previous_engagement=rng.randint(0, 1500),
        gender={gender: rng.randint(0, 2000) for gender in _GENDERS},
        age={bucket: rng.randint(0, 800) for bucket in _AGE_BUCKETS},
    )


def day_range(today: date) -> list[str]:
    """Names of the seven days ending `today`, oldest first (`["Tue", …, "Mon"]`)."""
    return [
        _DAY_NAMES[(today - timedelta(days=back)).weekday()] for back in range(DAYS - 1, -1, -1)
    ]


def build_statistics(profiles: Iterable[ProfileStats], *, today: date) -> dict[str, Any]:
    """The `results` object of the statistics answer: the sum over `profiles`."""
    profiles = list(profiles)
    platforms = sorted({profile.platform for profile in profiles})

    def on(platform: str) -> list[ProfileStats]:
        return [profile for profile in profiles if profile.platform == platform]

    def series(name: str, group: list[ProfileStats]) -> list[int]:
        return [sum(getattr(p, name)[day] for p in group) for day in range(DAYS)]

    def breakdown(current: Metric, previous: Metric) -> dict[str, Any]:
        def change(group: list[ProfileStats]) -> int:
            return sum(current(p) - previous(p) for p in group)

        return {
            "total": sum(current(p) for p in profiles),
            "totalChange": change(profiles),
            "platforms": {
                platform: {
                    "value": sum(current(p) for p in on(platform)),
                    "change": change(on(platform)),
                }
                for platform in platforms
            },
        }

    gender_totals = {gender: sum(p.gender[gender] for p in profiles) for gender in _GENDERS}
    audience = sum(gender_totals.values())
    return {
        "dayRange": day_range(today),
        "totals": {
            "posts": sum(sum(p.posts) for p in profiles),
            "likes": sum(sum(p.likes) for p in profiles),
            "followers": sum(p.followers[-1] for p in profiles),
            "impressions": sum(sum(p.impressions) for p in profiles),
            "comments": sum(sum(p.comments) for p in profiles),
        },
        "postPerformance": {
            "posts": {platform: series("posts", on(platform)) for platform in platforms},
            "impressions": series("impressions", profiles),
            "likes": series("likes", profiles),
            "comments": series("comments", profiles),
        },
        "breakdowns": {
            "posts": breakdown(lambda p: sum(p.posts), lambda p: p.previous_posts),
            "impressions": breakdown(
                lambda p: sum(p.impressions), lambda p: p.previous_impressions
            ),
            "reach": breakdown(lambda p: p.reach, lambda p: p.previous_reach),
            "engagement": {
                platform: {
                    "likes": sum(sum(p.likes) for p in on(platform)),
                    "comments": sum(sum(p.comments) for p in on(platform)),
                    "shares": sum(p.shares for p in on(platform)),
                    "change": sum(p.engagement - p.previous_engagement for p in on(platform)),
                }
                for platform in platforms
            },
        },
        "platformTotals": {
            name: {
                platform: {
                    "total": (
                        series(name, on(platform))[-1]
                        if name == "followers"
                        else sum(series(name, on(platform)))
                    ),
                    "series": series(name, on(platform)),
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
                "totals": {bucket: sum(p.age[bucket] for p in profiles) for bucket in _AGE_BUCKETS}
            },
        },
    }
