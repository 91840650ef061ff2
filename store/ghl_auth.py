"""GHL authorization in the store: OAuth tokens and their rotation, agency grants, install
states, GHL app webhooks, and the statuses they move a connection between.

Refresh tokens are single-use at GHL, so saving a new pair is the one moment that must never
be lost or interleaved: `save_oauth_tokens` writes the whole pair, its expiry and a new
``token_generation`` in one transaction on the locked row. A process that waited for the
refresh lock compares generations to know another one has refreshed already
(workers/ghl_tokens.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.connections import _connection_row, check_text, release_waiting
from store.crypto import SecretBox
from store.database import Database
from store.errors import NotFound
from store.models import ConnectionRow, GhlAgencyRow, GhlAppEventRow, OAuthStateRow
from store.records import (
    ConnectionRecord,
    ConnectionStatus,
    EventRecord,
    GhlAgencyRecord,
    GhlAppEventRecord,
    GhlAuth,
)

_EMPTY = ""


class LocationMismatch(ValueError):
    """An install chose another location than the one the connection is for."""


class GhlAuthMixin:
    """The GHL-authorization methods of Store."""

    _database: Database
    _box: SecretBox

    if TYPE_CHECKING:  # ConnectionsMixin's, beside this one in Store

        def _connection_record(self, row: ConnectionRow) -> ConnectionRecord: ...

    # -- OAuth tokens of a connection ----------------------------------------------------

    def save_oauth_tokens(
        self,
        connection_id: str,
        *,
        access_token: str,
        refresh_token: str,
        expires_at: datetime,
        scopes: Sequence[str],
        location_id: str,
        company_id: str | None,
        authorized: bool,
        now: datetime | None = None,
    ) -> tuple[ConnectionRecord, list[EventRecord]]:
        """Store a new token pair in one transaction; return the connection and the events it
        released.

        ``authorized``: the pair comes from an install (a code exchange or a location token),
        so the connection becomes ``active`` and its waiting events ``queued`` (returned, in
        order, for the caller to enqueue). Otherwise it is a refresh: ``last_refresh_at``
        moves and the status stays as it is.

        LocationMismatch when the connection is for another location than ``location_id``;
        ValueError for a PIT connection or empty tokens.
        """
        check_text("access_token", access_token, secret=True)
        check_text("refresh_token", refresh_token, secret=True)
        check_text("location_id", location_id, max_length=100)
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        moment = now or datetime.now(UTC)
        with self._database.transaction() as session:
            row = _bump_generation(session, connection_id)
            if row.ghl_auth != GhlAuth.OAUTH:
                raise ValueError(f"{row.name} uses a Private Integration token, not OAuth")
            if row.location_id and row.location_id != location_id:
                raise LocationMismatch(
                    f"{row.name} is for location {row.location_id}, "
                    f"not {location_id}: install it for {row.location_id}"
                )
            row.location_id = location_id
            row.company_id = company_id
            row.ghl_token_encrypted = self._box.encrypt(access_token)
            row.ghl_refresh_token_encrypted = self._box.encrypt(refresh_token)
            row.token_expires_at = expires_at
            row.scopes = " ".join(scopes)
            row.updated_at = moment
            released: list[EventRecord] = []
            if authorized:
                row.status = ConnectionStatus.ACTIVE.value
                row.status_reason = None
                released = release_waiting(session, connection_id)
            else:
                row.last_refresh_at = moment
            return self._connection_record(row), released

    def mark_needs_reauth(
        self, connection_id: str, reason: str, *, generation: int | None = None
    ) -> bool:
        """``needs_reauth`` with ``reason``: no usable grant is left. False, changing nothing,
        when ``generation`` is given and tokens were saved since (another process refreshed
        or re-installed, so the grant is fine after all)."""
        with self._database.transaction() as session:
            # One statement that compares and writes: on SQLite a SELECT runs before the
            # transaction takes the write lock, so a read-then-write could miss a save.
            statement = update(ConnectionRow).where(ConnectionRow.id == connection_id)
            if generation is not None:
                statement = statement.where(ConnectionRow.token_generation == generation)
            result = session.execute(
                statement.values(
                    status=ConnectionStatus.NEEDS_REAUTH.value,
                    status_reason=reason,
                    updated_at=datetime.now(UTC),
                )
            )
            if getattr(result, "rowcount", 0):
                return True
            _connection_row(session, connection_id)  # NotFound when it does not exist
            return False

    def disconnect_connection(self, connection_id: str, reason: str) -> ConnectionRecord:
        """Delete the connection's GHL tokens and make it ``disconnected`` with ``reason``.

        Its events then wait; only a new token (PIT) or install (OAuth) brings it back.
        """
        with self._database.transaction() as session:
            row = _bump_generation(session, connection_id)
            row.ghl_token_encrypted = self._box.encrypt(_EMPTY)
            row.ghl_refresh_token_encrypted = None
            row.token_expires_at = None
            row.scopes = None
            row.status = ConnectionStatus.DISCONNECTED.value
            row.status_reason = reason
            row.updated_at = datetime.now(UTC)
            return self._connection_record(row)

    def oauth_refresh_due(self, before: datetime) -> list[str]:
        """Ids of active OAuth connections whose access token expires before ``before``."""
        with self._database.transaction() as session:
            return list(
                session.scalars(
                    select(ConnectionRow.id)
                    .where(
                        ConnectionRow.ghl_auth == GhlAuth.OAUTH.value,
                        ConnectionRow.status == ConnectionStatus.ACTIVE.value,
                        ConnectionRow.token_expires_at.is_not(None),
                        ConnectionRow.token_expires_at < before,
                    )
                    .order_by(ConnectionRow.token_expires_at)
                )
            )

    def oauth_connections(
        self, *, location_id: str | None = None, company_id: str | None = None
    ) -> list[ConnectionRecord]:
        """OAuth connections of a location, or of every location of an agency, by name."""
        if location_id is None and company_id is None:
            raise ValueError("give location_id or company_id")
        statement = select(ConnectionRow).where(ConnectionRow.ghl_auth == GhlAuth.OAUTH.value)
        if location_id is not None:
            statement = statement.where(ConnectionRow.location_id == location_id)
        if company_id is not None:
            statement = statement.where(ConnectionRow.company_id == company_id)
        with self._database.transaction() as session:
            rows = session.scalars(statement.order_by(ConnectionRow.name)).all()
            return [self._connection_record(row) for row in rows]

    # -- agency (Company) grants ----------------------------------------------------------

    def save_agency(
        self,
        company_id: str,
        *,
        access_token: str,
        refresh_token: str,
        expires_at: datetime,
        scopes: Sequence[str],
        approved_locations: Sequence[str],
    ) -> GhlAgencyRecord:
        """Store (or replace) an agency's grant."""
        check_text("company_id", company_id, max_length=100)
        check_text("access_token", access_token, secret=True)
        check_text("refresh_token", refresh_token, secret=True)
        now = datetime.now(UTC)
        with self._database.transaction() as session:
            row = session.get(GhlAgencyRow, company_id, with_for_update=True)
            if row is None:
                row = GhlAgencyRow(company_id=company_id, created_at=now)
                session.add(row)
            row.access_token_encrypted = self._box.encrypt(access_token)
            row.refresh_token_encrypted = self._box.encrypt(refresh_token)
            row.token_expires_at = expires_at
            row.scopes = " ".join(scopes)
            row.approved_locations = list(approved_locations)
            row.updated_at = now
            return self._agency_record(row)

    def get_agency(self, company_id: str) -> GhlAgencyRecord | None:
        with self._database.transaction() as session:
            row = session.get(GhlAgencyRow, company_id)
            return None if row is None else self._agency_record(row)

    def delete_agency(self, company_id: str) -> bool:
        with self._database.transaction() as session:
            result = session.execute(
                delete(GhlAgencyRow).where(GhlAgencyRow.company_id == company_id)
            )
            return bool(getattr(result, "rowcount", 0))

    def _agency_record(self, row: GhlAgencyRow) -> GhlAgencyRecord:
        return GhlAgencyRecord(
            company_id=row.company_id,
            access_token=self._box.decrypt(row.access_token_encrypted),
            refresh_token=self._box.decrypt(row.refresh_token_encrypted),
            token_expires_at=row.token_expires_at,
            scopes=tuple(row.scopes.split()),
            approved_locations=tuple(row.approved_locations),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    # -- install states -------------------------------------------------------------------

    def use_oauth_state(self, nonce: str, *, expires_at: datetime) -> bool:
        """Record that the install state with ``nonce`` was used; False if it was before.

        The state itself is signed (socialbridge/oauth_state.py); this makes it single-use.
        Rows of states past their expiry are purged on the way.
        """
        check_text("nonce", nonce, max_length=64)
        now = datetime.now(UTC)
        try:
            with self._database.transaction() as session:
                session.execute(delete(OAuthStateRow).where(OAuthStateRow.expires_at < now))
                if session.get(OAuthStateRow, nonce) is not None:
                    return False
                session.add(OAuthStateRow(nonce=nonce, used_at=now, expires_at=expires_at))
        except IntegrityError:
            return False  # another request used it between our check and our insert
        return True

    # -- GHL app webhooks -----------------------------------------------------------------

    def record_app_event(
        self,
        webhook_id: str,
        *,
        type: str,
        location_id: str | None,
        company_id: str | None,
        payload: Mapping[str, Any],
    ) -> tuple[GhlAppEventRecord, bool]:
        """Record one GHL app webhook; ``(record, False)`` when its webhookId came before."""
        check_text("webhookId", webhook_id, max_length=255)
        now = datetime.now(UTC)
        try:
            with self._database.transaction() as session:
                existing = session.get(GhlAppEventRow, webhook_id)
                if existing is not None:
                    return _app_event_record(existing), False
                row = GhlAppEventRow(
                    webhook_id=webhook_id,
                    type=type[:50],
                    location_id=location_id,
                    company_id=company_id,
                    payload=dict(payload),
                    received_at=now,
                )
                session.add(row)
                session.flush()
                return _app_event_record(row), True
        except IntegrityError:
            # The same delivery arrived twice at once; the other request recorded it.
            found = self.get_app_event(webhook_id)
            if found is None:
                raise
            return found, False

    def finish_app_event(self, webhook_id: str, outcome: str) -> GhlAppEventRecord:
        """Say what came of an app webhook (``processed_at`` now)."""
        with self._database.transaction() as session:
            row = session.get(GhlAppEventRow, webhook_id)
            if row is None:
                raise NotFound(f"no app webhook {webhook_id!r}")
            row.processed_at = datetime.now(UTC)
            row.outcome = outcome
            return _app_event_record(row)

    def get_app_event(self, webhook_id: str) -> GhlAppEventRecord | None:
        with self._database.transaction() as session:
            row = session.get(GhlAppEventRow, webhook_id)
            return None if row is None else _app_event_record(row)

    def list_app_events(self, *, limit: int = 50) -> list[GhlAppEventRecord]:
        """The latest app webhooks, newest first."""
        with self._database.transaction() as session:
            rows = session.scalars(
                select(GhlAppEventRow).order_by(GhlAppEventRow.received_at.desc()).limit(limit)
            ).all()
            return [_app_event_record(row) for row in rows]


def _bump_generation(session: Session, connection_id: str) -> ConnectionRow:
    """Count a new save of the connection's tokens, first thing in the transaction, and return
    its row as it is now; NotFound when there is none.

    The UPDATE takes the row's lock on PostgreSQL and the database's write lock on SQLite (whose
    SELECTs run before the transaction holds any lock, so a read-then-increment would let two
    saves get the same generation). A caller that raises rolls the count back with the rest.
    """
    session.execute(
        update(ConnectionRow)
        .where(ConnectionRow.id == connection_id)
        .values(token_generation=ConnectionRow.token_generation + 1)
        .execution_options(synchronize_session=False)
    )
    return _connection_row(session, connection_id, for_update=True)


def _app_event_record(row: GhlAppEventRow) -> GhlAppEventRecord:
    return GhlAppEventRecord(
        webhook_id=row.webhook_id,
        type=row.type,
        location_id=row.location_id,
        company_id=row.company_id,
        payload=dict(row.payload),
        received_at=row.received_at,
        processed_at=row.processed_at,
        outcome=row.outcome,
    )
