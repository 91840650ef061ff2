"""What the Store returns: frozen dataclasses, never ORM objects, so nothing detaches or
lazy-loads after its session closed. Secrets in them are already decrypted: never log them.

All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class EventStatus(StrEnum):
    """Life of an event: queued -> processing -> done | retrying | waiting | dead.

    A ``retrying`` event goes back to ``queued`` when the recovery sweep enqueues it (its
    ``next_attempt_at`` came), and so does a ``processing`` one whose lease ran out. A
    ``waiting`` event belongs to a connection that is not active (parked, needs_reauth,
    disconnected): it goes back to ``queued``, with the connection's other waiting events in
    the order they came, as soon as the connection is active again. Never dead for that.
    """

    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    RETRYING = "retrying"
    WAITING = "waiting"
    DEAD = "dead"


class ErrorKind(StrEnum):
    """Why a dead event is dead, for people and programs deciding what to do about it."""

    RETRYABLE_EXHAUSTED = "retryable_exhausted"  # kept failing on retry: an outage, a bug
    PERMANENT = "permanent"  # refused for good (a 4xx, a connection that is gone or unusable)
    AUTH = "auth"  # credentials refused, on events that died before they could wait instead
    INVALID = "invalid"  # the event itself cannot work (its payload, its encoding)


class EventSource(StrEnum):
    """What produced an event."""

    WEBHOOK = "webhook"
    SCHEDULE = "schedule"
    CLI = "cli"


class ConnectionStatus(StrEnum):
    """Only an active connection runs events; the others keep theirs `waiting`.

    ``parked``: credentials or settings refused; fix them and `connections activate`.
    ``needs_reauth``: no usable OAuth grant (not installed yet, or a refresh failed for good);
    the install URL again. ``disconnected``: its tokens were deleted (`connections
    disconnect`, or GHL's UNINSTALL); a new token or install brings it back.
    """

    ACTIVE = "active"
    PARKED = "parked"
    NEEDS_REAUTH = "needs_reauth"
    DISCONNECTED = "disconnected"


class GhlAuth(StrEnum):
    """How a connection authorizes with GHL."""

    PIT = "pit"  # a Private Integration token, pasted; it never refreshes
    OAUTH = "oauth"  # a marketplace app install: access token refreshed with a refresh token


@dataclass(frozen=True)
class ConnectionRecord:
    """One CRM linked to one GHL location."""

    id: str
    name: str
    location_id: str
    crm_kind: str
    crm_url: str
    ghl_token: str = field(repr=False)
    # The connector's settings (crm.registry validates them), secrets decrypted.
    crm_settings: Mapping[str, Any] = field(repr=False)
    # Active inbound secrets, newest first: the receiver accepts a signature by any of them.
    webhook_secrets: tuple[str, ...] = field(repr=False)
    stats_interval_seconds: int
    status: str
    status_reason: str | None
    created_at: datetime
    updated_at: datetime
    # "signature" (Standard Webhooks) or "token" (Bearer inbound_token): only that one passes.
    inbound_auth: str = "signature"
    # The newest inbound token (token connections only); during a rotation the older ones in
    # inbound_tokens still pass.
    inbound_token: str | None = field(default=None, repr=False)
    inbound_tokens: tuple[str, ...] = field(default=(), repr=False)
    # The mapping's YAML text, when the connection has one.
    mapping: str | None = None
    ghl_auth: str = GhlAuth.PIT
    # OAuth only: the refresh token (single-use at GHL), when the access token expires, when
    # it was last refreshed, which save of tokens this is, and what GHL granted.
    ghl_refresh_token: str | None = field(default=None, repr=False)
    token_expires_at: datetime | None = None
    last_refresh_at: datetime | None = None
    token_generation: int = 0
    scopes: tuple[str, ...] = ()
    company_id: str | None = None

    @property
    def is_active(self) -> bool:
        """True only for an active connection: the others hold their events waiting."""
        return self.status == ConnectionStatus.ACTIVE

    @property
    def has_ghl_token(self) -> bool:
        """False for an OAuth connection not installed yet, and after a disconnect."""
        return bool(self.ghl_token)

    @property
    def crm_secret(self) -> str:
        """The webhook connector's signing secret ("" for other kinds)."""
        return str(self.crm_settings.get("secret", ""))


@dataclass(frozen=True)
class EventRecord:
    """One CRM event (or scheduled/CLI trigger) and where its processing stands."""

    id: str
    connection_id: str
    webhook_id: str | None
    source: str
    type: str
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    task_id: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None
    # Times the event was replayed (``Store.requeue``); last, with a default, so that records
    # built by keyword elsewhere stay valid.
    replays: int = 0
    # Set on dead events only: one of ErrorKind.
    error_kind: str | None = None
    # While ``processing``: the running attempt renews it; once it passes, the attempt is
    # taken for dead and the recovery sweep enqueues the event again.
    lease_expires_at: datetime | None = None
    # Attempts that ended in an unexpected exception: they have a small budget of their own.
    unexpected_errors: int = 0


@dataclass(frozen=True)
class PostRecord:
    """What socialbridge learnt from GHL about one CRM post record."""

    connection_id: str
    crm_post_id: str
    location_id: str
    ghl_post_id: str | None
    title: str | None
    tags: list[dict[str, Any]]
    post_tags: list[dict[str, Any]]
    tag_details: list[dict[str, Any]]
    snapshot_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SnapshotRecord:
    """Statistics of a location's social accounts over one date range."""

    id: str
    connection_id: str
    location_id: str
    start_date: date
    end_date: date
    profile_ids: list[str]
    totals: dict[str, float]
    platforms: dict[str, dict[str, float]]
    daily: dict[str, list[float]]
    day_range: list[str]
    created_at: datetime
    updated_at: datetime


class WriteStatus(StrEnum):
    """A recorded write: ``sending`` from before the send until the CRM took it, then ``sent``."""

    SENDING = "sending"
    SENT = "sent"


@dataclass(frozen=True)
class CrmWriteRecord:
    """One recorded write (see `store.writes`)."""

    connection_id: str
    idempotency_key: str
    writeback_type: str
    contact: str
    record: dict[str, str]
    tags: list[str]
    status: str
    attempts: int
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class GhlAgencyRecord:
    """An agency's OAuth grant (tokens decrypted: never log them)."""

    company_id: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_expires_at: datetime
    scopes: tuple[str, ...]
    approved_locations: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class GhlAppEventRecord:
    """One GHL app webhook as recorded (see `store.ghl_app_events`)."""

    webhook_id: str
    type: str
    location_id: str | None
    company_id: str | None
    payload: dict[str, Any]
    received_at: datetime
    processed_at: datetime | None
    outcome: str | None


class UserRole(StrEnum):
    """What a console user may do: an admin changes things, a viewer only reads."""

    ADMIN = "admin"
    VIEWER = "viewer"


@dataclass(frozen=True)
class UserRecord:
    """A console user as stored (see `store.users`), without the password hash."""

    id: str
    email: str
    role: UserRole
    # A password reset bumps it: sessions carry the generation they were signed in under.
    session_generation: int
    failed_attempts: int
    locked_until: datetime | None
    last_sign_in_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def locked_at(self, now: datetime) -> bool:
        """Whether the account is locked at ``now``."""
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class ApiTokenRecord:
    """A user's API token as stored (see `store.api_tokens`): never the token or its hash."""

    id: str
    user_id: str
    # The user's email, read with the token (lists and the request's user).
    email: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
