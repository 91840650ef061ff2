"""The tables, as typed SQLAlchemy 2 declarative models.

The schema itself is created by the Alembic migrations in ``store/migrations``; a test checks
that they and these models agree. Secrets are held only in ``*_encrypted`` columns (see
``store.crypto``). Timestamps are stored in UTC and always come back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints let later SQLite migrations (batch mode: copy-and-move) find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and read back timezone-aware on every database.

    SQLite keeps no time zone and returns naive values; PostgreSQL returns them in the
    session's zone. Both come out as UTC here. Naive values are refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store takes timezone-aware values")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class ConnectionRow(Base):
    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    location_id: Mapped[str] = mapped_column(String(100))
    crm_kind: Mapped[str] = mapped_column(String(50))
    crm_url: Mapped[str] = mapped_column(Text)
    ghl_token_encrypted: Mapped[str] = mapped_column(Text)
    crm_secret_encrypted: Mapped[str] = mapped_column(Text)
    # One token holding the JSON list of active inbound secrets, newest first.
    webhook_secrets_encrypted: Mapped[str] = mapped_column(Text)
    stats_interval_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # One token holding the JSON object of the connector's settings; NULL on rows from before
    # settings existed (a webhook connection's secret is then crm_secret_encrypted).
    crm_settings_encrypted: Mapped[str | None] = mapped_column(Text)
    inbound_auth: Mapped[str] = mapped_column(
        String(20), default="signature", server_default=text("'signature'")
    )
    inbound_token_encrypted: Mapped[str | None] = mapped_column(Text)
    # The mapping's YAML as the operator wrote it (errors then point at their own lines).
    mapping: Mapped[str | None] = mapped_column(Text)
    # "pit" (a Private Integration token in ghl_token_encrypted) or "oauth" (an access token
    # there, its refresh token below). An empty token (encrypted "") means none: an OAuth
    # connection not installed yet, or any connection after a disconnect.
    ghl_auth: Mapped[str] = mapped_column(String(10), default="pit", server_default=text("'pit'"))
    ghl_refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None]
    last_refresh_at: Mapped[datetime | None]
    # Bumped by every save of new tokens: a process that waited for the refresh lock compares
    # it with what it saw, to know another process has refreshed already.
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # The granted scopes, separated by spaces, as GHL's token answer gives them.
    scopes: Mapped[str | None] = mapped_column(Text)
    company_id: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (Index("ix_connections_location_id", "location_id"),)


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (
        # At most one event per delivery: the CRM's webhook-id is the idempotency key.
        # NULLs (schedule/CLI events) never collide, on SQLite and PostgreSQL alike.
        UniqueConstraint("connection_id", "webhook_id"),
        Index("ix_events_connection_id_created_at", "connection_id", "created_at"),
        Index("ix_events_status_created_at", "status", "created_at"),
        Index("ix_events_created_at", "created_at"),
        # The recovery sweep looks for events left `queued` (or stuck) since long ago.
        Index("ix_events_status_updated_at", "status", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE")
    )
    webhook_id: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    # How many times the event was replayed: a replay writes back under a new webhook-id and
    # runs under a new task id, both derived from it. A server default fills existing rows.
    replays: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    task_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    error_kind: Mapped[str | None] = mapped_column(String(30))
    lease_expires_at: Mapped[datetime | None]
    unexpected_errors: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class EventAttemptRow(Base):
    """One attempt at an event: opened by the claim that starts it, closed with its outcome by
    the store method that records that outcome, in the same transaction as the event's own
    change (``store.event_attempts``). Deleted with its event."""

    __tablename__ = "event_attempts"
    __table_args__ = (Index("ix_event_attempts_event_id", "event_id"),)

    # In the order the attempts started (an event's attempt numbers repeat: see `number`).
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32), ForeignKey("events.id", ondelete="CASCADE"))
    # The event's ``replays`` and ``attempts`` once claimed: a replay starts counting afresh, and
    # an attempt given back (waiting, deferred) leaves its number to the next one.
    replay: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime]
    # Both None while the attempt runs.
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20))
    error_kind: Mapped[str | None] = mapped_column(String(30))
    error: Mapped[str | None] = mapped_column(Text)
    # What the attempt wrote back to the CRM (type and webhook-id), when it wrote.
    writeback: Mapped[str | None] = mapped_column(Text)


class SnapshotRow(Base):
    __tablename__ = "snapshots"
    __table_args__ = (
        UniqueConstraint("connection_id", "start_date", "end_date"),
        Index("ix_snapshots_connection_id_updated_at", "connection_id", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE")
    )
    location_id: Mapped[str] = mapped_column(String(100))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    profile_ids: Mapped[list[Any]]
    totals: Mapped[dict[str, Any]]
    platforms: Mapped[dict[str, Any]]
    daily: Mapped[dict[str, Any]]
    day_range: Mapped[list[Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PostRow(Base):
    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_connection_id_location_id", "connection_id", "location_id"),)

    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    crm_post_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(100))
    ghl_post_id: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[Any]]
    post_tags: Mapped[list[Any]]
    tag_details: Mapped[list[Any]]
    snapshot_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("snapshots.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class StatDayRow(Base):
    """One figure of one day, for the analytics trends: the newest snapshot giving it wins.

    Written with each snapshot (``store.stat_days``), so a trend reads at most one row per day
    however many overlapping snapshots were saved. ``platform`` is ``all`` for the location's
    figures; ``estimated`` marks values spread evenly over a snapshot's days from a period
    total (GHL sends per-platform figures and reach and shares only as period totals).
    """

    __tablename__ = "stat_days"

    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    platform: Mapped[str] = mapped_column(String(50), primary_key=True)
    metric: Mapped[str] = mapped_column(String(30), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    estimated: Mapped[bool]
    snapshot_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("snapshots.id", ondelete="CASCADE"), index=True
    )


class PostTagLinkRow(Base):
    """One tag a post carries (from ``posts.post_tags``), queryable: tag usage and segments."""

    __tablename__ = "post_tag_links"
    __table_args__ = (
        ForeignKeyConstraint(
            ["connection_id", "crm_post_id"],
            ["posts.connection_id", "posts.crm_post_id"],
            ondelete="CASCADE",
            name="fk_post_tag_links_post_posts",
        ),
        Index("ix_post_tag_links_connection_id_posted_on", "connection_id", "posted_on"),
        Index("ix_post_tag_links_connection_id_tag_id", "connection_id", "tag_id"),
    )

    connection_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    crm_post_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tag_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tag_name: Mapped[str] = mapped_column(Text)
    # When the post was published (the event's published_at), else when it was first
    # recorded; the day is kept too, so usage per day groups on a plain column everywhere.
    posted_at: Mapped[datetime]
    posted_on: Mapped[date] = mapped_column(Date)


class CrmWriteRow(Base):
    """One write of a connector that keeps its own record of what it sent (email)."""

    __tablename__ = "crm_writes"
    __table_args__ = (Index("ix_crm_writes_connection_id_contact", "connection_id", "contact"),)

    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    writeback_type: Mapped[str] = mapped_column(String(100))
    # Whom the write is about, in the CRM's terms (an email address for IXACT Contact).
    contact: Mapped[str] = mapped_column(String(512))
    # The event's data.record (names, for the Contact Groups export).
    record: Mapped[dict[str, Any]]
    # The GHL tag names the write carried.
    tags: Mapped[list[Any]]
    status: Mapped[str] = mapped_column(String(20))
    # Sends begun: more than one means an earlier one may have reached the CRM unconfirmed.
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class GhlAgencyRow(Base):
    """An agency's (Company) OAuth grant: it mints location tokens for its approved locations."""

    __tablename__ = "ghl_agencies"

    company_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    access_token_encrypted: Mapped[str] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str] = mapped_column(Text)
    token_expires_at: Mapped[datetime]
    scopes: Mapped[str] = mapped_column(Text)
    approved_locations: Mapped[list[Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OAuthStateRow(Base):
    """A used install `state` (by its nonce): a second use of the same state is refused."""

    __tablename__ = "oauth_states"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime]
    # When the state would have expired anyway: rows past it can be purged.
    expires_at: Mapped[datetime]


class GhlAppEventRow(Base):
    """One GHL app webhook (INSTALL, UNINSTALL, ...) by its webhookId, and what came of it."""

    __tablename__ = "ghl_app_events"
    __table_args__ = (Index("ix_ghl_app_events_received_at", "received_at"),)

    webhook_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(50))
    location_id: Mapped[str | None] = mapped_column(String(100))
    company_id: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)


class UserRow(Base):
    """A person who may sign in to the console. ``email`` is stored lower-cased."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # admin | viewer
    role: Mapped[str] = mapped_column(String(10))
    # The versioned scrypt string of console.passwords; never the password.
    password_hash: Mapped[str] = mapped_column(Text)
    # Bumped by a password reset: every session signed in before it stops working.
    session_generation: Mapped[int] = mapped_column(Integer)
    # Failed sign-ins since the last success; the account locks at the threshold.
    failed_attempts: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None]
    last_sign_in_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MappingVersionRow(Base):
    """One saved version of a connection's mapping: the history the console shows and rolls
    back to. Written in the transaction that sets ``connections.mapping``
    (``store.mapping_versions``)."""

    __tablename__ = "mapping_versions"

    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    # 1, 2, 3… per connection, in the order saved.
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    # Who saved it: a console user's email, or "cli" / "migration"; None when not known.
    author: Mapped[str | None] = mapped_column(String(320))
    # The version this one restores (a rollback), else None.
    restored_from: Mapped[int | None] = mapped_column(Integer)


class ApiTokenRow(Base):
    """A user's API token for scripts (`store.api_tokens`): only the token's SHA-256 is kept,
    never the token. Deleted with its user (a removed user's scripts stop at once)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    # Hex SHA-256 of the whole token: a request's token is looked up by it.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    # Written at most once a minute per token (`store.api_tokens.LAST_USED_PRECISION`).
    last_used_at: Mapped[datetime | None]
