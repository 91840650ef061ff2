"""Deterministic seed data of a sandbox location: tags, social accounts, a group and posts.

Everything is derived from `(seed, location_id)` by hashing, never from the clock or a global
random state, so the same sandbox answers the same data on every start, in every process.
Objects render themselves in the exact field names of the spec's schemas
(`SocialMediaTagSchema`, `GetAccountSchema`, `GetGroupSchema`, `GetPostFormattedSchema`).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

DEFAULT_TAG_COUNT = 250
"""Tags of a seeded location: three pages of 100, so clients must page."""

POSTS_PER_LOCATION = 5
"""Posts of a seeded location unless asked for more: `post_{short name}_1` to `_5`."""
TAGS_PER_POST = 3

_EPOCH = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
"""Fixed origin of every seeded timestamp (a Monday), so dates do not move between runs."""

_QUALIFIERS = (
    "spring", "summer", "autumn", "winter", "weekly", "monthly", "local", "luxury",
    "featured", "evergreen", "video", "carousel", "q1", "q2", "q3",
)  # fmt: skip
_TOPICS = (
    "open house", "market update", "just listed", "just sold", "home tips", "mortgage rates",
    "client story", "community event", "first-time buyers", "downsizing", "investment",
    "neighbourhood guide", "holiday", "team news", "testimonial", "staging", "renovation",
    "insurance tips", "retirement planning", "life insurance",
)  # fmt: skip

# (platform, account type, display name suffix, has a profileId). The last one has none, as a
# disconnected account does in HighLevel: statistics cannot be asked for it.
_ACCOUNT_PLAN = (
    ("facebook", "page", "Facebook Page", True),
    ("instagram", "business", "Instagram", True),
    ("linkedin", "page", "LinkedIn Page", True),
    ("google", "location", "Google Business Profile", True),
    ("tiktok", "business", "TikTok Business", True),
    ("twitter", "profile", "X (Twitter)", False),
)

# The spec declares the post's `type` as an object (an enum the generator did not export), and
# it is required, so the only answer that validates is an object. Real HighLevel sends a string
# such as "post": clients must not depend on this field.
_SPEC_POST_TYPE: dict[str, Any] = {}


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, the way HighLevel writes dates."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def object_id(*parts: object) -> str:
    """A 24-hex id (the shape of HighLevel's MongoDB ids) derived from `parts`."""
    text = ":".join(str(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def derived_random(*parts: object) -> random.Random:
    """A private random generator seeded from `parts` (not security-sensitive)."""
    return random.Random(int(object_id(*parts), 16))


def short_name(location_id: str) -> str:
    """`loc_demo` -> `demo`: the part of a location id used in readable ids like `post_demo_1`."""
    return location_id.removeprefix("loc_")


@dataclass(frozen=True)
class Tag:
    id: str
    name: str
    location_id: str
    created_by: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The tag as `SocialMediaTagSchema`."""
        return {
            "_id": self.id,
            "tag": self.name,
            "locationId": self.location_id,
            "createdBy": self.created_by,
            "deleted": False,
            "createdAt": timestamp(self.created_at),
            "updatedAt": timestamp(self.created_at),
        }


@dataclass(frozen=True)
class Account:
    id: str
    oauth_id: str
    profile_id: str | None
    name: str
    platform: str
    type: str

    def to_json(self) -> dict[str, Any]:
        """The account as `GetAccountSchema`; `profileId` is absent when it has none."""
        body: dict[str, Any] = {
            "id": self.id,
            "oauthId": self.oauth_id,
            "name": self.name,
            "platform": self.platform,
            "type": self.type,
            "expire": timestamp(_EPOCH + timedelta(days=365)),
            "isExpired": False,
            "meta": {"canDelete": True},
        }
        if self.profile_id is not None:
            body["profileId"] = self.profile_id
        return body


@dataclass(frozen=True)
class Group:
    id: str
    name: str
    account_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The group as `GetGroupSchema`."""
        return {"id": self.id, "name": self.name, "accountIds": list(self.account_ids)}


@dataclass(frozen=True)
class Post:
    id: str
    location_id: str
    account: Account
    summary: str
    tag_ids: tuple[str, ...]
    created_by: str
    created_at: datetime
    published_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The post as `GetPostFormattedSchema`."""
        return {
            "_id": self.id,
            "source": "composer",
            "locationId": self.location_id,
            "platform": self.account.platform,
            "accountId": self.account.id,
            "accountIds": [self.account.id],
            "displayDate": timestamp(self.published_at),
            "createdAt": timestamp(self.created_at),
            "updatedAt": timestamp(self.published_at),
            "publishedAt": timestamp(self.published_at),
            "postId": object_id("platform-post", self.id),
            "error": "",
            "summary": self.summary,
            "media": [],
            "createdBy": self.created_by,
            "type": _SPEC_POST_TYPE,
            "tags": list(self.tag_ids),
        }


@dataclass(frozen=True)
class LocationData:
    """Everything the sandbox knows about one location. Immutable once seeded."""

    location_id: str
    tags: tuple[Tag, ...]
    accounts: tuple[Account, ...]
    groups: tuple[Group, ...]
    posts: tuple[Post, ...]

    def tag(self, tag_id: str) -> Tag | None:
        """The tag with this id, if the location has it."""
        return self._tags_by_id.get(tag_id)

    def post(self, post_id: str) -> Post | None:
        """The post with this id, if the location has it."""
        return self._posts_by_id.get(post_id)

    # cached_property writes to the instance dict directly, so it works on a frozen dataclass.
    @cached_property
    def _tags_by_id(self) -> dict[str, Tag]:
        return {tag.id: tag for tag in self.tags}

    @cached_property
    def _posts_by_id(self) -> dict[str, Post]:
        return {post.id: post for post in self.posts}


def seed_location(
    location_id: str,
    *,
    seed: int = 0,
    tag_count: int = DEFAULT_TAG_COUNT,
    post_count: int = POSTS_PER_LOCATION,
) -> LocationData:
    """The deterministic data of `location_id`: `tag_count` tags, six accounts, `post_count`
    posts (`post_{short name}_1` onwards; a larger count keeps the first posts the same)."""
    user_id = object_id(seed, location_id, "user")
    tags = _seed_tags(location_id, seed=seed, count=tag_count, user_id=user_id)
    accounts = _seed_accounts(location_id, seed=seed)
    group = Group(
        id=object_id(seed, location_id, "group"),
        name="Primary",
        account_ids=tuple(account.id for account in accounts),
    )
    posts = _seed_posts(
        location_id, seed=seed, tags=tags, accounts=accounts, user_id=user_id, count=post_count
    )
    return LocationData(
        location_id=location_id, tags=tags, accounts=accounts, groups=(group,), posts=posts
    )


def _seed_tags(location_id: str, *, seed: int, count: int, user_id: str) -> tuple[Tag, ...]:
    names = [f"{qualifier} {topic}" for qualifier, topic in itertools.product(_QUALIFIERS, _TOPICS)]
    derived_random(seed, location_id, "tag-names").shuffle(names)
    tags = []
    for index in range(count):
        # Past the 300 combinations, names repeat with a round number so they stay unique.
        round_number, position = divmod(index, len(names))
        name = names[position] if round_number == 0 else f"{names[position]} {round_number + 1}"
        tags.append(
            Tag(
                id=object_id(seed, location_id, "tag", index),
                name=name,
                location_id=location_id,
                created_by=user_id,
                created_at=_EPOCH + timedelta(hours=index),
            )
        )
    return tuple(tags)


def _seed_accounts(location_id: str, *, seed: int) -> tuple[Account, ...]:
    accounts = []
    for platform, account_type, label, has_profile in _ACCOUNT_PLAN:
        oauth_id = object_id(seed, location_id, "oauth", platform)[:20]
        profile_id = object_id(seed, location_id, "profile", platform) if has_profile else None
        native_id = str(int(object_id(seed, location_id, "native", platform), 16))[:20]
        accounts.append(
            Account(
                id=f"{oauth_id}_{location_id}_{native_id}",
                oauth_id=oauth_id,
                profile_id=profile_id,
                name=f"{short_name(location_id).title()} {label}",
                platform=platform,
                type=account_type,
            )
        )
    return tuple(accounts)


def _seed_posts(
    location_id: str,
    *,
    seed: int,
    tags: tuple[Tag, ...],
    accounts: tuple[Account, ...],
    user_id: str,
    count: int,
) -> tuple[Post, ...]:
    rng = derived_random(seed, location_id, "posts")
    with_profile = [account for account in accounts if account.profile_id is not None]
    posts = []
    for number in range(1, count + 1):
        chosen = rng.sample(tags, k=min(TAGS_PER_POST, len(tags)))
        account = with_profile[(number - 1) % len(with_profile)]
        created_at = _EPOCH + timedelta(days=number)
        posts.append(
            Post(
                id=f"post_{short_name(location_id)}_{number}",
                location_id=location_id,
                account=account,
                summary=f"Post {number} of {location_id}: " + ", ".join(t.name for t in chosen),
                tag_ids=tuple(tag.id for tag in chosen),
                created_by=user_id,
                created_at=created_at,
                published_at=created_at + timedelta(hours=2),
            )
        )
    return tuple(posts)
