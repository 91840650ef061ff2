"""Post records: what GHL said about one CRM post, upserted by (connection, CRM post id)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.database import Database, require_connection
from store.models import PostRow, SnapshotRow
from store.records import PostRecord
from store.tag_links import replace_tag_links


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
        """

        def apply(session: Session, row: PostRow) -> None:
            row.location_id = location_id
            row.tags = list(tags)
            row.post_tags = list(post_tags)
            if ghl_post_id is not None:
                row.ghl_post_id = ghl_post_id
            if title is not None:
                row.title = title
            session.flush()  # the links refer to the post row
            replace_tag_links(
                session,
                connection_id=connection_id,
                crm_post_id=crm_post_id,
                post_tags=post_tags,
                posted_at=published_at or row.created_at,
            )

        return self._upsert_post(connection_id, crm_post_id, location_id, apply)

    def save_tag_details(
        self,
        *,
        connection_id: str,
        crm_post_id: str,
        location_id: str,
        details: list[dict[str, Any]],
    ) -> PostRecord:
        """Record the full tag objects attached to the post; idempotent."""

        def apply(session: Session, row: PostRow) -> None:
            row.location_id = location_id
            row.tag_details = list(details)

        return self._upsert_post(connection_id, crm_post_id, location_id, apply)

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

    def _upsert_post(
        self,
        connection_id: str,
        crm_post_id: str,
        location_id: str,
        apply: Callable[[Session, PostRow], None],
    ) -> PostRecord:
        try:
            return self._try_upsert_post(connection_id, crm_post_id, location_id, apply)
        except IntegrityError:
            # Two workers saved the same new post at once (a redelivery): the loser of the
            # insert race finds the winner's row this time and updates it.
            return self._try_upsert_post(connection_id, crm_post_id, location_id, apply)

    def _try_upsert_post(
        self,
        connection_id: str,
        crm_post_id: str,
        location_id: str,
        apply: Callable[[Session, PostRow], None],
    ) -> PostRecord:
        with self._database.transaction() as session:
            row = session.get(PostRow, (connection_id, crm_post_id), with_for_update=True)
            now = datetime.now(UTC)
            if row is None:
                require_connection(session, connection_id)
                row = PostRow(
                    connection_id=connection_id,
                    crm_post_id=crm_post_id,
                    location_id=location_id,
                    ghl_post_id=None,
                    title=None,
                    tags=[],
                    post_tags=[],
                    tag_details=[],
                    snapshot_id=_latest_snapshot_id(session, connection_id, location_id),
                    created_at=now,
                )
                session.add(row)
            row.updated_at = now
            apply(session, row)
        return _post_record(row)


def _latest_snapshot_id(session: Session, connection_id: str, location_id: str) -> str | None:
    """A new post record starts linked to the location's latest statistics, when there are some."""
    return session.scalar(
        select(SnapshotRow.id)
        .where(SnapshotRow.connection_id == connection_id, SnapshotRow.location_id == location_id)
        .order_by(SnapshotRow.updated_at.desc(), SnapshotRow.id.desc())
        .limit(1)
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
