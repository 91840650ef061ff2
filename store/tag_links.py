"""The tags each post carries, one row each (`post_tag_links`), for tag usage and segments.

`posts.post_tags` keeps the GHL post's tags as JSON, as the write-back sent them; a JSON list
cannot be grouped or filtered the same way on SQLite and PostgreSQL, so every save of a post's
tags also replaces its rows here, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from store.database import Database
from store.models import PostRow, PostTagLinkRow


@dataclass(frozen=True)
class TagCount:
    """How many posts carry one tag."""

    tag_id: str
    name: str
    posts: int


@dataclass(frozen=True)
class TagDayCount:
    """How many posts carrying one tag were published on one day."""

    tag_id: str
    day: date
    posts: int


@dataclass(frozen=True)
class TaggedPost:
    """A post carrying a given tag, with every tag it carries."""

    crm_post_id: str
    ghl_post_id: str | None
    title: str | None
    posted_at: datetime
    tags: tuple[str, ...]


def tag_links(
    connection_id: str, crm_post_id: str, post_tags: Iterable[Any], posted_at: datetime
) -> list[dict[str, Any]]:
    """The `post_tag_links` rows of one post (a tag named twice counts once)."""
    rows: dict[str, dict[str, Any]] = {}
    for tag in post_tags:
        if not isinstance(tag, dict) or not isinstance(tag.get("id"), str):
            continue
        name = tag.get("name")
        rows.setdefault(
            tag["id"],
            {
                "connection_id": connection_id,
                "crm_post_id": crm_post_id,
                "tag_id": tag["id"],
                "tag_name": name if isinstance(name, str) else tag["id"],
                "posted_at": posted_at,
                "posted_on": posted_at.astimezone(UTC).date(),
            },
        )
    return list(rows.values())


def replace_tag_links(
    session: Session,
    *,
    connection_id: str,
    crm_post_id: str,
    post_tags: Sequence[Any],
    posted_at: datetime,
) -> None:
    """The post's rows become its tags now (in the caller's transaction)."""
    session.execute(
        delete(PostTagLinkRow).where(
            PostTagLinkRow.connection_id == connection_id,
            PostTagLinkRow.crm_post_id == crm_post_id,
        )
    )
    rows = tag_links(connection_id, crm_post_id, post_tags, posted_at)
    if rows:
        session.execute(insert(PostTagLinkRow), rows)


class TagLinksMixin:
    """The reads of `post_tag_links` for the analytics."""

    _database: Database

    def top_tags(
        self, connection_id: str, *, first: date, last: date, limit: int = 10
    ) -> list[TagCount]:
        """The tags carried by the most posts published from ``first`` to ``last``, most
        first (ties by name)."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        posts = func.count(PostTagLinkRow.crm_post_id).label("posts")
        name = func.max(PostTagLinkRow.tag_name).label("name")
        statement = (
            select(PostTagLinkRow.tag_id, name, posts)
            .where(
                PostTagLinkRow.connection_id == connection_id,
                PostTagLinkRow.posted_on >= first,
                PostTagLinkRow.posted_on <= last,
            )
            .group_by(PostTagLinkRow.tag_id)
            .order_by(posts.desc(), name, PostTagLinkRow.tag_id)
            .limit(limit)
        )
        with self._database.transaction() as session:
            return [TagCount(row.tag_id, row.name, row.posts) for row in session.execute(statement)]

    def tag_day_counts(
        self, connection_id: str, tag_ids: Sequence[str], *, first: date, last: date
    ) -> list[TagDayCount]:
        """Posts per tag and day, for the given tags, from ``first`` to ``last``."""
        if not tag_ids:
            return []
        posts = func.count(PostTagLinkRow.crm_post_id).label("posts")
        statement = (
            select(PostTagLinkRow.tag_id, PostTagLinkRow.posted_on, posts)
            .where(
                PostTagLinkRow.connection_id == connection_id,
                PostTagLinkRow.tag_id.in_(list(tag_ids)),
                PostTagLinkRow.posted_on >= first,
                PostTagLinkRow.posted_on <= last,
            )
            .group_by(PostTagLinkRow.tag_id, PostTagLinkRow.posted_on)
            .order_by(PostTagLinkRow.posted_on, PostTagLinkRow.tag_id)
        )
        with self._database.transaction() as session:
            return [
                TagDayCount(row.tag_id, row.posted_on, row.posts)
                for row in session.execute(statement)
            ]

    def tag_name(self, connection_id: str, tag_id: str) -> str | None:
        """The name the tag was last seen with on one of the connection's posts, or None."""
        statement = (
            select(PostTagLinkRow.tag_name)
            .where(PostTagLinkRow.connection_id == connection_id, PostTagLinkRow.tag_id == tag_id)
            .order_by(PostTagLinkRow.posted_at.desc())
            .limit(1)
        )
        with self._database.transaction() as session:
            return session.scalar(statement)

    def posts_with_tag(
        self, connection_id: str, tag_id: str, *, limit: int | None = None
    ) -> list[TaggedPost]:
        """The posts carrying the tag, newest first, each with all of its tags' names."""
        if limit is not None and limit <= 0:
            raise ValueError("limit must be positive")
        statement = (
            select(PostRow, PostTagLinkRow.posted_at)
            .join(
                PostTagLinkRow,
                (PostTagLinkRow.connection_id == PostRow.connection_id)
                & (PostTagLinkRow.crm_post_id == PostRow.crm_post_id),
            )
            .where(PostTagLinkRow.connection_id == connection_id, PostTagLinkRow.tag_id == tag_id)
            .order_by(PostTagLinkRow.posted_at.desc(), PostRow.crm_post_id)
        )
        if limit is not None:
            statement = statement.limit(limit)
        with self._database.transaction() as session:
            return [
                TaggedPost(
                    crm_post_id=row.PostRow.crm_post_id,
                    ghl_post_id=row.PostRow.ghl_post_id,
                    title=row.PostRow.title,
                    posted_at=row.posted_at,
                    tags=tuple(
                        str(tag.get("name", tag.get("id")))
                        for tag in row.PostRow.post_tags
                        if isinstance(tag, dict)
                    ),
                )
                for row in session.execute(statement)
            ]
