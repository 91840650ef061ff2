"""What HighLevel's Social Planner answers, loaded into frozen dataclasses.

The shapes come from the official `apps/social-media-posting.json` (and the v3 file, which
answers the same way for these endpoints):

    GET  …/{locationId}/tags          {"results": {"tags": [SocialMediaTagSchema], "count"}}
    POST …/{locationId}/tags/details  {"results": {"tags": [SocialMediaTagSchema], "count"}}
    GET  …/{locationId}/accounts      {"results": {"accounts": [GetAccountSchema], "groups"}}
    GET  …/{locationId}/posts/{id}    {"results": {"post": GetPostFormattedSchema}}
    POST …/statistics                 {"results": {"dayRange", "totals", "postPerformance",
                                                   "breakdowns", …}}

A tag's name is its `tag` key and its id `_id`. Every schema uses `unknown=EXCLUDE`, so a field
GHL adds tomorrow never breaks a delivery; each value keeps the object exactly as GHL sent it
in `raw`. The `load_*` functions raise `marshmallow.ValidationError` naming the GHL field
(e.g. `results.tags.0._id`); the GHL client turns it into a PermanentError.

Statistics numbers keep their JSON type: a count GHL sends as `508` stays the int 508 through
merging, the store and the write-back, never `508.0`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_load, validate

_NON_EMPTY = validate.Length(min=1)
_MAX_NUMBER_CHARS = 64

# Keys of `results.breakdowns` that hold `{platforms: {name: {value, change}}}`.
_BREAKDOWN_METRICS = ("posts", "impressions", "reach")
# Keys of `results.breakdowns.engagement.{platform}` worth adding up (`change` is a percentage).
_ENGAGEMENT_METRICS = ("likes", "comments", "shares")
# Keys of `results.postPerformance` that are one series over the whole location.
_DAILY_SERIES = ("impressions", "likes", "comments")


@dataclass(frozen=True)
class Tag:
    """A Social Planner tag (`SocialMediaTagSchema`)."""

    id: str
    name: str
    raw: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class Account:
    """A connected social account (`GetAccountSchema`); `profile_id` feeds statistics."""

    id: str
    profile_id: str | None
    platform: str
    name: str
    raw: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class Post:
    """A Social Planner post (`GetPostFormattedSchema`) and the ids of its tags."""

    id: str
    tag_ids: tuple[str, ...]
    raw: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class Statistics:
    """Statistics of some profiles over one period (the statistics endpoint's `results`).

    `platforms` holds, per platform, the `value`s of `breakdowns.posts|impressions|reach` and
    the `likes`, `comments`, `shares` of `breakdowns.engagement`. `daily` holds one series per
    metric: `impressions`, `likes`, `comments` as GHL sends them, and `posts` summed over the
    platforms of `postPerformance.posts`. Numbers are ints where GHL sent integers (typed
    `float` as PEP 484 does: an int is a float to the type checker).
    """

    day_range: tuple[str, ...]
    totals: dict[str, float]
    platforms: dict[str, dict[str, float]]
    daily: dict[str, list[float]]
    raw: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class TagsPage:
    """One page of `GET …/tags`; `count` is GHL's `results.count` when it sends one."""

    tags: tuple[Tag, ...]
    count: int | None


class _GHLSchema(Schema):
    class Meta:
        unknown = EXCLUDE


class Number(fields.Field[float]):
    """A finite JSON number kept as it came: an int stays an int, unlike `fields.Float`.

    A numeric string is read as the number it spells (as `fields.Float` did), an int when it
    has no fraction. Booleans are refused: Python counts them as ints, GHL never means them
    as numbers.
    """

    default_error_messages = {"invalid": "Not a valid number."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, str):
            value = _parse_number(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if not math.isfinite(value):
            raise self.make_error("invalid")
        return value


def _parse_number(text: str) -> Any:
    """What a numeric string spells, read as JSON reads it (`"12"` -> 12, `"1.5"` -> 1.5)."""
    # No number needs more characters; the cap also keeps a nested "[[[…" off the parser.
    if len(text) > _MAX_NUMBER_CHARS:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class TagSchema(_GHLSchema):
    """`SocialMediaTagSchema` -> Tag."""

    id = fields.String(required=True, data_key="_id", validate=_NON_EMPTY)
    name = fields.String(load_default="", data_key="tag")

    @post_load(pass_original=True)
    def _make(self, data: dict[str, Any], original: dict[str, Any], **_: Any) -> Tag:
        return Tag(id=data["id"], name=data["name"], raw=original)


class AccountSchema(_GHLSchema):
    """`GetAccountSchema` -> Account."""

    id = fields.String(required=True, validate=_NON_EMPTY)
    profile_id = fields.String(load_default=None, allow_none=True, data_key="profileId")
    platform = fields.String(load_default="")
    name = fields.String(load_default="")

    @post_load(pass_original=True)
    def _make(self, data: dict[str, Any], original: dict[str, Any], **_: Any) -> Account:
        return Account(
            id=data["id"],
            # Some accounts (e.g. not yet fully connected) carry no profileId, or an empty one.
            profile_id=data["profile_id"] or None,
            platform=data["platform"],
            name=data["name"],
            raw=original,
        )


class PostSchema(_GHLSchema):
    """`GetPostFormattedSchema` -> Post."""

    id = fields.String(required=True, data_key="_id", validate=_NON_EMPTY)
    tag_ids = fields.List(fields.String(), load_default=None, allow_none=True, data_key="tags")

    @post_load(pass_original=True)
    def _make(self, data: dict[str, Any], original: dict[str, Any], **_: Any) -> Post:
        return Post(id=data["id"], tag_ids=tuple(data["tag_ids"] or ()), raw=original)


class _TagsResultsSchema(_GHLSchema):
    tags = fields.List(fields.Nested(TagSchema), required=True)
    count = fields.Integer(load_default=None, allow_none=True, strict=False)


class TagsResponseSchema(_GHLSchema):
    """`GetTagsByLocationIdResponseDTO` and `GetTagsByIdResponseDTO` (same results shape)."""

    results = fields.Nested(_TagsResultsSchema, required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> TagsPage:
        results = data["results"]
        return TagsPage(tags=tuple(results["tags"]), count=results["count"])


class _AccountsResultsSchema(_GHLSchema):
    accounts = fields.List(fields.Nested(AccountSchema), required=True)


class AccountsResponseSchema(_GHLSchema):
    """`AccountsListResponseDTO`."""

    results = fields.Nested(_AccountsResultsSchema, required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> list[Account]:
        return list(data["results"]["accounts"])


class _PostResultsSchema(_GHLSchema):
    post = fields.Nested(PostSchema, required=True)


class PostResponseSchema(_GHLSchema):
    """`GetPostSuccessfulResponseDTO`."""

    results = fields.Nested(_PostResultsSchema, required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Post:
        post: Post = data["results"]["post"]
        return post


class _PlatformValueSchema(_GHLSchema):
    value = Number(load_default=None, allow_none=True)


class _MetricBreakdownSchema(_GHLSchema):
    platforms = fields.Dict(
        keys=fields.String(), values=fields.Nested(_PlatformValueSchema), load_default=dict
    )


class _EngagementSchema(_GHLSchema):
    likes = Number(load_default=None, allow_none=True)
    comments = Number(load_default=None, allow_none=True)
    shares = Number(load_default=None, allow_none=True)


class _BreakdownsSchema(_GHLSchema):
    posts = fields.Nested(_MetricBreakdownSchema, load_default=None)
    impressions = fields.Nested(_MetricBreakdownSchema, load_default=None)
    reach = fields.Nested(_MetricBreakdownSchema, load_default=None)
    engagement = fields.Dict(
        keys=fields.String(), values=fields.Nested(_EngagementSchema), load_default=dict
    )


class _PostPerformanceSchema(_GHLSchema):
    posts = fields.Dict(keys=fields.String(), values=fields.List(Number()), load_default=None)
    impressions = fields.List(Number(), load_default=None)
    likes = fields.List(Number(), load_default=None)
    comments = fields.List(Number(), load_default=None)


class _StatisticsResultsSchema(_GHLSchema):
    day_range = fields.List(fields.String(), load_default=list, data_key="dayRange")
    # GHL may send null for a total it could not compute; such entries are dropped.
    totals = fields.Dict(keys=fields.String(), values=Number(allow_none=True), load_default=dict)
    post_performance = fields.Nested(
        _PostPerformanceSchema, load_default=None, data_key="postPerformance"
    )
    breakdowns = fields.Nested(_BreakdownsSchema, load_default=None)

    @post_load(pass_original=True)
    def _make(self, data: dict[str, Any], original: dict[str, Any], **_: Any) -> Statistics:
        day_range = tuple(data["day_range"])
        return Statistics(
            day_range=day_range,
            totals={name: value for name, value in data["totals"].items() if value is not None},
            platforms=_platforms(data["breakdowns"] or {}),
            daily=_daily(data["post_performance"] or {}, len(day_range)),
            raw=original,
        )


class StatisticsResponseSchema(_GHLSchema):
    """The statistics answer (201 with Version 2021-07-28, 200 with v3); `raw` is `results`."""

    results = fields.Nested(_StatisticsResultsSchema, required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Statistics:
        statistics: Statistics = data["results"]
        return statistics


def _platforms(breakdowns: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    platforms: dict[str, dict[str, float]] = {}
    for metric in _BREAKDOWN_METRICS:
        breakdown = breakdowns.get(metric) or {}
        for platform, entry in breakdown.get("platforms", {}).items():
            if entry["value"] is not None:
                platforms.setdefault(platform, {})[metric] = entry["value"]
    for platform, entry in breakdowns.get("engagement", {}).items():
        for metric in _ENGAGEMENT_METRICS:
            if entry[metric] is not None:
                platforms.setdefault(platform, {})[metric] = entry[metric]
    return platforms


def _daily(performance: Mapping[str, Any], days: int) -> dict[str, list[float]]:
    daily: dict[str, list[float]] = {}
    per_platform = performance.get("posts")
    if per_platform is not None:
        daily["posts"] = _sum_series([*per_platform.values(), [0] * days])
    for metric in _DAILY_SERIES:
        if performance.get(metric) is not None:
            daily[metric] = list(performance[metric])
    return daily


def _sum_series(series: Iterable[Sequence[float]]) -> list[float]:
    """Element-wise sum; a shorter series counts as zeros at its end."""
    total: list[float] = []
    for values in series:
        if len(values) > len(total):
            total.extend([0] * (len(values) - len(total)))
        for index, value in enumerate(values):
            total[index] += value
    return total


def merge_statistics(parts: Sequence[Statistics]) -> Statistics:
    """Add up the statistics of disjoint batches of profiles over the same period.

    Totals, per-platform values and daily series are summed (series element-wise). One part
    comes back as it is; for several, `raw` is `{"batches": [raw of each part]}`. No part gives
    empty statistics.
    """
    if len(parts) == 1:
        return parts[0]
    totals: dict[str, float] = {}
    platforms: dict[str, dict[str, float]] = {}
    series: dict[str, list[Sequence[float]]] = {}
    for part in parts:
        for name, value in part.totals.items():
            totals[name] = totals.get(name, 0) + value
        for platform, metrics in part.platforms.items():
            merged = platforms.setdefault(platform, {})
            for name, value in metrics.items():
                merged[name] = merged.get(name, 0) + value
        for name, daily in part.daily.items():
            series.setdefault(name, []).append(daily)
    return Statistics(
        day_range=max((part.day_range for part in parts), key=len, default=()),
        totals=totals,
        platforms=platforms,
        daily={name: _sum_series(values) for name, values in series.items()},
        raw={"batches": [part.raw for part in parts]},
    )


# One instance of each answer's schema for the process: a schema builds the instances of its
# nested schemas on its first load, which cost more than the load itself (1.5 against 0.6 ms for
# a statistics answer). Loading keeps no state on the instance, so threads may share them.
_TAGS_RESPONSE = TagsResponseSchema()
_ACCOUNTS_RESPONSE = AccountsResponseSchema()
_POST_RESPONSE = PostResponseSchema()
_STATISTICS_RESPONSE = StatisticsResponseSchema()


def load_tags_page(body: Any) -> TagsPage:
    """One page of `GET …/tags` (raises ValidationError naming the field)."""
    page: TagsPage = _TAGS_RESPONSE.load(body)
    return page


def load_tag_details(body: Any) -> list[Tag]:
    """The tags of `POST …/tags/details` (raises ValidationError naming the field)."""
    page: TagsPage = _TAGS_RESPONSE.load(body)
    return list(page.tags)


def load_accounts(body: Any) -> list[Account]:
    """The accounts of `GET …/accounts` (raises ValidationError naming the field)."""
    accounts: list[Account] = _ACCOUNTS_RESPONSE.load(body)
    return accounts


def load_post(body: Any) -> Post:
    """The post of `GET …/posts/{id}` (raises ValidationError naming the field)."""
    post: Post = _POST_RESPONSE.load(body)
    return post


def load_statistics(body: Any) -> Statistics:
    """The answer of `POST …/statistics` (raises ValidationError naming the field)."""
    statistics: Statistics = _STATISTICS_RESPONSE.load(body)
    return statistics
