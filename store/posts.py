"""Post records: what GHL said about one CRM post, upserted by (connection, CRM post id)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from store.database import Database, require_connection
from store.models import PostRow, SnapshotRow
from store.records import PostRecord
from store.tag_links import replace_tag_links

_POSTS: Table = PostRow.__table__  # type: ignore[assignment]
_SNAPSHOTS: Table = SnapshotRow.__table__  # type: ignore[assignment]
# `_save_post_tags_statement` and `_save_tag_details_statement` by dialect.
_SAVE_POST_TAGS: dict[str, Any] = {}
_SAVE_TAG_DETAILS: dict[str, Any] = {}


class PostsMixin:
    """The post record methods of Store."""

    _database: Database

    def save_post_tags(
        self,
        *,
        connection_id: str,
        crm_post_id: str,
        location_id: str,
        tags: list[dict[str, Any]],
        post_tags: list[dict[str, Any]],
        ghl_post_id: str | None = None,
        title: str | None = None,
        published_at: datetime | None = None,
    ) -> PostRecord:
        """Record the location's tags and the post's own tags; idempotent.

        ``ghl_post_id`` and ``title`` left as None keep what an earlier save stored. The
        post's tags are also kept one row each for the analytics (``store.tag_links``), dated
        ``published_at``, or when the post was first recorded.

        The post record is one statement, every post.published event: INSERT ... ON CONFLICT
        DO UPDATE ... RETURNING (SQLite 3.35 and PostgreSQL 9.5 both have it), where a read, a
        check of the connection, a read of the latest snapshot and a write cost several times
        its CPU. Atomic on both, so two workers saving the same new post make one record; the
        tag links follow in the same transaction.
        """
        now = datetime.now(UTC)
        statement = _save_post_tags_statement(self._database.engine.dialect.name)
        values = {
            "connection_id": connection_id,
            "crm_post_id": crm_post_id,
            "location_id": location_id,
            "ghl_post_id": ghl_post_id,
            "title": title,
            "tags": list(tags),
            "post_tags": list(post_tags),
            "tag_details": [],
            "now": now,
        }
        try:
            with self._database.core_transaction() as connection:
                row = connection.execute(statement, values).one()
                replace_tag_links(
                    connection,
                    connection_id=connection_id,
                    crm_post_id=crm_post_id,
                    post_tags=post_tags,
                    posted_at=published_at or row.created_at,
                )
        except IntegrityError:
            # The only constraint an upsert can break is the connection's foreign key.
            with self._database.transaction() as session:
                require_connection(session, connection_id)
            raise
        # What was written is known; the rest comes back from the row as it now is.
        return PostRecord(
            connection_id=connection_id,
            crm_post_id=crm_post_id,
            location_id=location_id,
            ghl_post_id=row.ghl_post_id,
            title=row.title,
            tags=list(tags),
            post_tags=list(post_tags),
            tag_details=list(row.tag_details),
            snapshot_id=row.snapshot_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def save_tag_details(
        self,
        *,
        connection_id: str,
        crm_post_id: str,
        location_id: str,
        details: list[dict[str, Any]],
    ) -> PostRecord:
        """Record the full tag objects attached to the post; idempotent.

        One statement, as `save_post_tags`: INSERT ... ON CONFLICT DO UPDATE ... RETURNING. A
        new record has no tags yet and starts linked to the location's latest statistics; a
        known one keeps its tags, GHL post, title and statistics.
        """
        now = datetime.now(UTC)
        statement = _save_tag_details_statement(self._database.engine.dialect.name)
        values = {
            "connection_id": connection_id,
            "crm_post_id": crm_post_id,
            "location_id": location_id,
            "ghl_post_id": None,
            "title": None,
            "tags": [],
            "post_tags": [],
            "tag_details": list(details),
            "now": now,
        }
        try:
            with self._database.core_transaction() as connection:
                row = connection.execute(statement, values).one()
        except IntegrityError:
            # The only constraint an upsert can break is the connection's foreign key.
            with self._database.transaction() as session:
                require_connection(session, connection_id)
            raise
        return PostRecord(
            connection_id=connection_id,
            crm_post_id=crm_post_id,
            location_id=location_id,
            ghl_post_id=row.ghl_post_id,
            title=row.title,
            tags=list(row.tags),
            post_tags=list(row.post_tags),
            tag_details=list(details),
            snapshot_id=row.snapshot_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def get_post(self, connection_id: str, crm_post_id: str) -> PostRecord | None:
        """The post record, or None."""
        with self._database.transaction() as session:
            row = session.get(PostRow, (connection_id, crm_post_id))
            return None if row is None else _post_record(row)

    def list_posts(self, connection_id: str, limit: int = 50) -> list[PostRecord]:
        """The connection's post records, most recently updated first."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        statement = (
            select(PostRow)
            .where(PostRow.connection_id == connection_id)
            .order_by(PostRow.updated_at.desc(), PostRow.crm_post_id)
            .limit(limit)
        )
        with self._database.transaction() as session:
            return [_post_record(row) for row in session.scalars(statement)]


def _save_post_tags_statement(dialect: str) -> Any:
    """`save_post_tags`' upsert, its values given at execution, built once per dialect: built
    anew for each event, its columns, subquery and conflict clause cost SQLAlchemy more CPU
    than SQLite's whole work."""
    statement = _SAVE_POST_TAGS.get(dialect)
    if statement is not None:
        return statement
    posts = _POSTS.c
    statement = _insert_post(dialect)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[posts.connection_id, posts.crm_post_id],
        set_={
            "location_id": excluded.location_id,
            "tags": excluded.tags,
            "post_tags": excluded.post_tags,
            "ghl_post_id": func.coalesce(excluded.ghl_post_id, posts.ghl_post_id),
            "title": func.coalesce(excluded.title, posts.title),
            "updated_at": excluded.updated_at,
        },
    ).returning(
        posts.ghl_post_id,
        posts.title,
        posts.tag_details,
        posts.snapshot_id,
        posts.created_at,
        posts.updated_at,
    )
    return _SAVE_POST_TAGS.setdefault(dialect, statement)


def _save_tag_details_statement(dialect: str) -> Any:
    """`save_tag_details`' upsert, built once per dialect as `save_post_tags`' is."""
    statement = _SAVE_TAG_DETAILS.get(dialect)
    if statement is not None:
        return statement
    posts = _POSTS.c
    statement = _insert_post(dialect)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[posts.connection_id, posts.crm_post_id],
        set_={
            "location_id": excluded.location_id,
            "tag_details": excluded.tag_details,
            "updated_at": excluded.updated_at,
        },
    ).returning(
        posts.ghl_post_id,
        posts.title,
        posts.tags,
        posts.post_tags,
        posts.snapshot_id,
        posts.created_at,
        posts.updated_at,
    )
    return _SAVE_TAG_DETAILS.setdefault(dialect, statement)


def _insert_post(dialect: str) -> Any:
    """The INSERT of a new post record, every column a parameter but its statistics: a new
    record starts linked to the location's latest snapshot. ``now`` gives both times."""
    posts, snapshots = _POSTS.c, _SNAPSHOTS.c

    def value(name: str) -> Any:
        return bindparam(name, type_=posts[name].type)

    connection_id, location_id, now = (
        value("connection_id"),
        value("location_id"),
        bindparam("now", type_=posts.updated_at.type),
    )
    latest_snapshot = (
        select(snapshots.id)
        .where(snapshots.connection_id == connection_id, snapshots.location_id == location_id)
        .order_by(snapshots.updated_at.desc(), snapshots.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    insert: Any = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(_POSTS).values(
        connection_id=connection_id,
        crm_post_id=value("crm_post_id"),
        location_id=location_id,
        ghl_post_id=value("ghl_post_id"),
        title=value("title"),
        tags=value("tags"),
        post_tags=value("post_tags"),
        tag_details=value("tag_details"),
        snapshot_id=latest_snapshot,
        created_at=now,
        updated_at=now,
    )


def _post_record(row: PostRow) -> PostRecord:
    return PostRecord(
        connection_id=row.connection_id,
        crm_post_id=row.crm_post_id,
        location_id=row.location_id,
        ghl_post_id=row.ghl_post_id,
        title=row.title,
        tags=list(row.tags),
        post_tags=list(row.post_tags),
        tag_details=list(row.tag_details),
        snapshot_id=row.snapshot_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
