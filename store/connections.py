"""Connections: one CRM linked to one GHL location, with its secrets encrypted at rest."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from socialbridge.config import STATS_INTERVAL_MAX_SECONDS, STATS_INTERVAL_MIN_SECONDS
from socialbridge.inbound_auth import (
    InboundAuth,
    check_webhook_secret,
    new_inbound_token,
    new_webhook_secret,
)
from store.connection_cache import ConnectionCache
from store.crypto import SecretBox
from store.database import Database
from store.errors import DuplicateName, NotFound
from store.events import event_record
from store.ids import new_connection_id
from store.mapping_versions import add_version
from store.models import (
    ConnectionRow,
    CrmWriteRow,
    EventRow,
    MappingVersionRow,
    PostRow,
    SnapshotRow,
)
from store.records import ConnectionRecord, ConnectionStatus, EventRecord, EventStatus, GhlAuth

# A statistics sync more often than every 5 minutes spends the location's GHL rate budget on
# numbers that have barely moved; one rarer than monthly is no schedule, and the huge values
# past it overflow the scheduler's date arithmetic. Both bounds are inclusive.

# As wide as the columns (store/models.py): PostgreSQL refuses longer values, SQLite would not.
NAME_MAX_LENGTH = 200
LOCATION_ID_MAX_LENGTH = 100
CRM_KIND_MAX_LENGTH = 50

# A mapping is a page of YAML; far more is a mistake (or an attack on the parser).
MAPPING_MAX_CHARACTERS = 65536
# The kind whose one setting, its signing secret, also lives in crm_secret_encrypted (the
# column rows from before connector settings read it from).
WEBHOOK_KIND = "webhook"

# What every connection id starts with (store/ids.py). Commands take an id or a name in the
# same place, so a name like an id could make `remove NAME` pick another connection.
CONNECTION_ID_PREFIX = "con_"


def check_name(name: str) -> str:
    """``name`` unchanged when it may name a connection, else ValueError saying why."""
    check_text("name", name, max_length=NAME_MAX_LENGTH)
    if name.strip().lower().startswith(CONNECTION_ID_PREFIX):
        raise ValueError(
            f"name: {name!r} looks like a connection id ({CONNECTION_ID_PREFIX}…); "
            "choose a name that does not start with it"
        )
    return name


def check_stats_interval(seconds: int) -> int:
    """``seconds`` unchanged when it is an allowed statistics interval, else ValueError."""
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise ValueError(f"stats_interval_seconds: expected whole seconds, got {seconds!r}")
    if not STATS_INTERVAL_MIN_SECONDS <= seconds <= STATS_INTERVAL_MAX_SECONDS:
        raise ValueError(
            f"stats_interval_seconds: {seconds} is out of range: from "
            f"{STATS_INTERVAL_MIN_SECONDS} (5 minutes) to {STATS_INTERVAL_MAX_SECONDS} (31 days)"
        )
    return seconds


def check_text(
    field: str, value: str, *, max_length: int | None = None, secret: bool = False
) -> str:
    """``value`` unchanged when it is storable text for ``field``, else ValueError naming it.

    Refused: empty or blank; a lone surrogate (what undecodable bytes on a command line turn
    into; it cannot be encoded for the database or encrypted); control characters such as NUL
    (PostgreSQL refuses NUL; the others are typing accidents) unless ``secret`` (encrypted, so
    any text is storable); more than ``max_length`` characters.
    """
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected text, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{field}: must not be empty")
    for position, character in enumerate(value):
        if "\ud800" <= character <= "\udfff":
            raise ValueError(
                f"{field}: not valid text: a lone surrogate {character!r} at position "
                f"{position} (bytes that are not UTF-8?)"
            )
        if not secret and (character < " " or "\x7f" <= character <= "\x9f"):
            raise ValueError(
                f"{field}: control character {character!r} at position {position} is not allowed"
            )
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{field}: at most {max_length} characters, got {len(value)}")
    return value


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as a dict when storable (flat JSON scalars, encodable text), else ValueError.

    Which settings a CRM kind takes is `crm.registry.load_settings`'s business; this only
    guards the column.
    """
    checked: dict[str, Any] = {}
    for name, value in settings.items():
        check_text("crm setting name", str(name), max_length=100)
        if value is None:
            continue
        if isinstance(value, str):
            check_text(f"crm setting {name}", value, secret=True)
        elif not isinstance(value, bool | int | float):
            raise ValueError(f"crm setting {name}: expected text, a number or a boolean")
        checked[str(name)] = value
    return checked


def check_mapping(text: str) -> str:
    """``text`` unchanged when it can be stored as a mapping, else ValueError.

    Whether it is a valid mapping is `mappings.load_mapping`'s business.
    """
    check_text("mapping", text, secret=True)  # secret: newlines and tabs are its form
    if "\x00" in text:
        raise ValueError("mapping: contains NUL")
    if len(text) > MAPPING_MAX_CHARACTERS:
        raise ValueError(f"mapping: at most {MAPPING_MAX_CHARACTERS} characters, got {len(text)}")
    return text


def check_inbound_auth(mode: str) -> InboundAuth:
    try:
        return InboundAuth(mode)
    except ValueError:
        expected = ", ".join(m.value for m in InboundAuth)
        raise ValueError(f"inbound_auth: {mode!r} is not one of {expected}") from None


def check_ghl_auth(mode: str) -> GhlAuth:
    try:
        return GhlAuth(mode)
    except ValueError:
        expected = ", ".join(m.value for m in GhlAuth)
        raise ValueError(f"ghl_auth: {mode!r} is not one of {expected}") from None


# Why an OAuth connection that was never installed waits: what `connections show` says.
NOT_INSTALLED_REASON = "not authorized yet: open the install URL (socialbridge connections show)"


class ConnectionsMixin:
    """The connection methods of Store."""

    _database: Database
    _box: SecretBox

    def create_connection(
        self,
        *,
        name: str,
        location_id: str,
        ghl_token: str,
        crm_url: str = "",
        ghl_auth: str = GhlAuth.PIT,
        crm_secret: str | None = None,
        webhook_secret: str | None = None,
        crm_kind: str = WEBHOOK_KIND,
        crm_settings: Mapping[str, Any] | None = None,
        inbound_auth: str = InboundAuth.SIGNATURE,
        mapping: str | None = None,
        stats_interval_seconds: int = 86400,
        mapping_author: str | None = None,
    ) -> ConnectionRecord:
        """Store a new, active connection; secrets left out are generated.

        ``crm_settings`` are the connector's (validated by `crm.registry.load_settings`
        first); ``crm_secret`` is a webhook connection's signing secret, its one setting, and
        generated (``whsec_…``) when neither gives it. A connection with ``inbound_auth``
        "token" gets an inbound token. ``crm_url`` may be empty for a CRM reached otherwise.

        ``ghl_auth`` "oauth" creates the connection without a GHL token, ``needs_reauth`` until
        its install completes (`save_oauth_tokens`); its ``location_id`` may be "" (any
        location the installer chooses) or the one location its install must choose.

        Raises DuplicateName when ``name`` is taken; ValueError naming the field on a malformed
        secret, a name like a connection id (``con_…``), text that cannot be stored (empty,
        control characters, too long), an unknown inbound mode or an interval outside 300 s to
        31 days.
        """
        check_name(name)
        auth = check_ghl_auth(ghl_auth)
        if auth is GhlAuth.OAUTH:
            if ghl_token:
                raise ValueError("ghl_token: an OAuth connection gets its token from the install")
            if location_id:
                check_text("location_id", location_id, max_length=LOCATION_ID_MAX_LENGTH)
        else:
            check_text("location_id", location_id, max_length=LOCATION_ID_MAX_LENGTH)
            check_text("ghl_token", ghl_token, secret=True)
        if crm_url:
            check_text("crm_url", crm_url)
        check_text("crm_kind", crm_kind, max_length=CRM_KIND_MAX_LENGTH)
        check_stats_interval(stats_interval_seconds)
        mode = check_inbound_auth(inbound_auth)
        if mapping is not None:
            check_mapping(mapping)
        settings = check_settings(crm_settings or {})
        if crm_secret is not None:
            check_text("crm_secret", crm_secret, secret=True)
            settings["secret"] = crm_secret
        if crm_kind == WEBHOOK_KIND:
            settings.setdefault("secret", new_webhook_secret())
            check_webhook_secret(str(settings["secret"]))
        inbound = new_webhook_secret() if webhook_secret is None else webhook_secret
        check_webhook_secret(inbound)
        tokens = (new_inbound_token(),) if mode is InboundAuth.TOKEN else ()
        now = datetime.now(UTC)
        row = ConnectionRow(
            id=new_connection_id(),
            name=name,
            location_id=location_id,
            crm_kind=crm_kind,
            crm_url=crm_url,
            ghl_token_encrypted=self._box.encrypt(ghl_token),
            crm_secret_encrypted=self._box.encrypt(str(settings.get("secret", ""))),
            crm_settings_encrypted=self._box.encrypt(json.dumps(settings)),
            webhook_secrets_encrypted=self._encrypt_secrets((inbound,)),
            inbound_auth=mode.value,
            inbound_token_encrypted=self._encrypt_secrets(tokens) if tokens else None,
            mapping=mapping,
            stats_interval_seconds=stats_interval_seconds,
            ghl_auth=auth.value,
            token_generation=0,
            status=(
                ConnectionStatus.ACTIVE.value
                if auth is GhlAuth.PIT
                else ConnectionStatus.NEEDS_REAUTH.value
            ),
            status_reason=None if auth is GhlAuth.PIT else NOT_INSTALLED_REASON,
            created_at=now,
            updated_at=now,
        )
        try:
            with self._database.transaction() as session:
                if session.scalar(select(ConnectionRow.id).where(ConnectionRow.name == name)):
                    raise DuplicateName(f"a connection named {name!r} exists already")
                session.add(row)
                if mapping is not None:
                    # Flushed first: the version refers to the connection's row.
                    session.flush()
                    add_version(session, row.id, mapping, author=mapping_author, now=now)
        except IntegrityError:
            # Another process created the same name between our check and our insert.
            raise DuplicateName(f"a connection named {name!r} exists already") from None
        return self._connection_record(row)

    def get_connection(self, connection_id: str) -> ConnectionRecord | None:
        """The connection with this id, or None."""
        with self._database.transaction() as session:
            row = session.get(ConnectionRow, connection_id)
            return None if row is None else self._connection_record(row)

    def cached_connection(self, connection_id: str) -> ConnectionRecord | None:
        """`get_connection`, kept in this process for a few seconds (`connection_cache`).

        For the paths that read one connection per event, such as the receiver: a change made
        through this Store is seen at once, one made by another process within
        ``store.connection_cache.CONNECTION_CACHE_SECONDS``.
        """
        return self.connection_cache.get(connection_id, self.get_connection)

    @property
    def connection_cache(self) -> ConnectionCache:
        """This Store's cache of decrypted connections (store/connection_cache.py)."""
        cache: ConnectionCache | None = self.__dict__.get("_connection_cache")
        if cache is None:
            # setdefault is atomic: two threads racing here end up with the same cache.
            cache = self.__dict__.setdefault("_connection_cache", ConnectionCache())
        return cache

    def find_connection(self, id_or_name: str) -> ConnectionRecord | None:
        """The connection with this id or, failing that, this name; or None."""
        with self._database.transaction() as session:
            rows = session.scalars(
                select(ConnectionRow).where(
                    or_(ConnectionRow.id == id_or_name, ConnectionRow.name == id_or_name)
                )
            ).all()
            # An id match wins over a connection that happens to be named like an id.
            rows = sorted(rows, key=lambda row: row.id != id_or_name)
            return self._connection_record(rows[0]) if rows else None

    def find_connection_name(self, id_or_name: str) -> tuple[str, str] | None:
        """``(id, name)`` of the connection with this id or name, decrypting nothing.

        For what must work even when its secrets cannot be read (removing a connection whose
        SECRET_KEY is lost).
        """
        with self._database.transaction() as session:
            rows = session.execute(
                select(ConnectionRow.id, ConnectionRow.name).where(
                    or_(ConnectionRow.id == id_or_name, ConnectionRow.name == id_or_name)
                )
            ).all()
            # An id match wins over a connection that happens to be named like an id.
            found = sorted(rows, key=lambda row: row.id != id_or_name)
            return (found[0].id, found[0].name) if found else None

    def list_connections(self) -> list[ConnectionRecord]:
        """Every connection, by name."""
        with self._database.transaction() as session:
            rows = session.scalars(select(ConnectionRow).order_by(ConnectionRow.name)).all()
            return [self._connection_record(row) for row in rows]

    def count_connections_by_status(self) -> dict[str, int]:
        """How many connections are in each status, every status present (zero included)."""
        counts = {status.value: 0 for status in ConnectionStatus}
        statement = select(ConnectionRow.status, func.count()).group_by(ConnectionRow.status)
        with self._database.transaction() as session:
            for status, count in session.execute(statement):
                counts[status] = count
        return counts

    def delete_connection(self, connection_id: str) -> bool:
        """Delete the connection with its events, posts and snapshots; False if it did not exist."""
        with self._database.transaction() as session:
            row = session.get(ConnectionRow, connection_id)
            if row is None:
                return False
            # Explicit rather than trusting ON DELETE CASCADE, which SQLite honours only when
            # the connection enabled foreign keys.
            for table in (PostRow, EventRow, SnapshotRow, CrmWriteRow, MappingVersionRow):
                session.execute(delete(table).where(table.connection_id == connection_id))
            session.delete(row)
        self.connection_cache.drop(connection_id)
        return True

    def update_connection(
        self,
        connection_id: str,
        *,
        name: str | None = None,
        ghl_token: str | None = None,
        crm_url: str | None = None,
        crm_secret: str | None = None,
        crm_settings: Mapping[str, Any] | None = None,
        mapping: str | None = None,
        remove_mapping: bool = False,
        stats_interval_seconds: int | None = None,
        mapping_author: str | None = None,
    ) -> ConnectionRecord:
        """Change the fields given (None: keep); ``updated_at`` becomes now.

        ``crm_settings`` replaces the connector's settings as a whole (merge and validate
        them with `crm.registry.load_settings` first); ``crm_secret`` changes a webhook
        connection's signing secret alone. ``remove_mapping`` drops the mapping. A ``mapping``
        is also kept as the connection's next mapping version (``store.mapping_versions``),
        saved by ``mapping_author`` when given.

        Checked as by ``create_connection``: DuplicateName when another connection has
        ``name``; ValueError naming the field on a name like a connection id, text that cannot
        be stored, an interval outside 300 s to 31 days or, for a webhook CRM, a
        ``crm_secret`` not of the ``whsec_`` form; NotFound for an unknown id.
        """
        if name is not None:
            check_name(name)
        if ghl_token is not None:
            check_text("ghl_token", ghl_token, secret=True)
        if crm_url is not None:
            check_text("crm_url", crm_url)
        if crm_secret is not None:
            check_text("crm_secret", crm_secret, secret=True)
        if crm_settings is not None:
            crm_settings = check_settings(crm_settings)
        if mapping is not None:
            check_mapping(mapping)
        if stats_interval_seconds is not None:
            check_stats_interval(stats_interval_seconds)
        try:
            with self._database.transaction() as session:
                row = _connection_row(session, connection_id, for_update=True)
                if crm_settings is not None or crm_secret is not None:
                    settings = dict(crm_settings or self._settings_of(row))
                    if crm_secret is not None:
                        settings["secret"] = crm_secret
                    # Only the CRM kind decides the secret's form, and it is the stored one.
                    if row.crm_kind == WEBHOOK_KIND:
                        check_webhook_secret(str(settings.get("secret", "")))
                    row.crm_settings_encrypted = self._box.encrypt(json.dumps(settings))
                    row.crm_secret_encrypted = self._box.encrypt(str(settings.get("secret", "")))
                if mapping is not None:
                    row.mapping = mapping
                    add_version(
                        session, connection_id, mapping, author=mapping_author,
                        now=datetime.now(UTC),
                    )  # fmt: skip
                elif remove_mapping:
                    row.mapping = None
                if name is not None and name != row.name:
                    taken = session.scalar(
                        select(ConnectionRow.id).where(
                            ConnectionRow.name == name, ConnectionRow.id != connection_id
                        )
                    )
                    if taken:
                        raise DuplicateName(f"a connection named {name!r} exists already")
                    row.name = name
                if ghl_token is not None:
                    if row.ghl_auth != GhlAuth.PIT:
                        raise ValueError(
                            "ghl_token: an OAuth connection gets its token from the install "
                            "URL, not from --ghl-token"
                        )
                    row.ghl_token_encrypted = self._box.encrypt(ghl_token)
                if crm_url is not None:
                    row.crm_url = crm_url
                if stats_interval_seconds is not None:
                    row.stats_interval_seconds = stats_interval_seconds
                row.updated_at = datetime.now(UTC)
        except IntegrityError:
            # Another process took the name between our check and our update.
            raise DuplicateName(f"a connection named {name!r} exists already") from None
        finally:
            # After the commit (or the rollback): a reader must not cache the row before it.
            self.connection_cache.drop(connection_id)
        return self._connection_record(row)

    def park_connection(
        self, connection_id: str, reason: str, *, unchanged_since: datetime | None = None
    ) -> bool:
        """Stop work for this connection (e.g. GHL refused its token) and say why.

        With ``unchanged_since`` (the ``updated_at`` the caller saw), only if nobody changed
        the connection since: an operator who fixed and activated it a moment ago is not
        overruled by an attempt that ran with the old credentials. False when not parked.
        """
        with self._database.transaction() as session:
            row = _connection_row(session, connection_id, for_update=True)
            if unchanged_since is not None and row.updated_at != unchanged_since:
                return False
            row.status = ConnectionStatus.PARKED.value
            row.status_reason = reason
            row.updated_at = datetime.now(UTC)
        self.connection_cache.drop(connection_id)
        return True

    def activate_connection(self, connection_id: str) -> list[EventRecord]:
        """Resume work for a connection: ``active``, and its waiting events ``queued`` again.

        Returns the released events in the order they came (the caller enqueues them in that
        order). One transaction that first locks the connection row: an attempt deciding at
        the same moment that the connection is not active (`mark_waiting` locks the same row)
        either finishes first, so its event is released here, or runs after and finds the
        connection active. ValueError for a connection with no GHL token (OAuth not
        installed, or disconnected): only a new token or install can bring it back.
        """
        with self._database.transaction() as session:
            row = _connection_row(session, connection_id, for_update=True)
            if not self._box.decrypt(row.ghl_token_encrypted):
                raise ValueError(
                    f"{row.name} has no GHL token ({row.status}): "
                    + (
                        "open its install URL (socialbridge connections show)"
                        if row.ghl_auth == GhlAuth.OAUTH
                        else "give it one with: socialbridge connections update --ghl-token"
                    )
                )
            row.status = ConnectionStatus.ACTIVE.value
            row.status_reason = None
            row.updated_at = datetime.now(UTC)
            released = release_waiting(session, connection_id)
        self.connection_cache.drop(connection_id)
        return released

    def add_webhook_secret(self, connection_id: str, secret: str | None = None) -> str:
        """Start a rotation: ``secret`` (or a new one) becomes the newest active inbound secret.

        The older secrets stay active so that deliveries signed with them still pass until
        the CRM uses the new one; ``retire_webhook_secrets`` ends the rotation.
        """
        new_secret = new_webhook_secret() if secret is None else check_webhook_secret(secret)
        with self._database.transaction() as session:
            row = _connection_row(session, connection_id, for_update=True)
            current = self._decrypt_secrets(row.webhook_secrets_encrypted)
            kept = tuple(old for old in current if old != new_secret)
            row.webhook_secrets_encrypted = self._encrypt_secrets((new_secret, *kept))
            row.updated_at = datetime.now(UTC)
        self.connection_cache.drop(connection_id)
        return new_secret

    def retire_webhook_secrets(self, connection_id: str, keep: int = 1) -> tuple[str, ...]:
        """End a rotation: keep only the ``keep`` newest inbound secrets; returns them."""
        if keep < 1:
            raise ValueError("a connection keeps at least one webhook secret")
        with self._database.transaction() as session:
            row = _connection_row(session, connection_id, for_update=True)
            kept = self._decrypt_secrets(row.webhook_secrets_encrypted)[:keep]
            row.webhook_secrets_encrypted = self._encrypt_secrets(kept)
            row.updated_at = datetime.now(UTC)
        self.connection_cache.drop(connection_id)
        return kept

    def add_inbound_token(self, connection_id: str) -> str:
        """Start a rotation of a token connection's inbound token: a new one becomes newest.

        The older token keeps working until ``retire_inbound_tokens``, so the CRM side can be
        changed without a window where its POSTs are refused. ValueError for a connection
        that signs instead.
        """
        token = new_inbound_token()
        with self._database.transaction() as session:
            row = _connection_row(session, connection_id, for_update=True)
            if row.inbound_auth != InboundAuth.TOKEN:
                raise ValueError(
                    f"{row.name} authenticates inbound webhooks by signature, not by token"
                )
            current = self._inbound_tokens(row)
            row.inbound_token_encrypted = self._encrypt_secrets((token, *current))
            row.updated_at = datetime.now(UTC)
        self.connection_cache.drop(connection_id)
        return token

    def retire_inbound_tokens(self, connection_id: str, keep: int = 1) -> tuple[str, ...]:
        """End a rotation: keep only the ``keep`` newest inbound tokens; returns them."""
        if keep < 1:
            raise ValueError("a connection keeps at least one inbound token")
        with self._database.transaction() as session:
            row = _connection_row(session, connection_id, for_update=True)
            if row.inbound_auth != InboundAuth.TOKEN:
                raise ValueError(
                    f"{row.name} authenticates inbound webhooks by signature, not by token"
                )
            kept = self._inbound_tokens(row)[:keep]
            row.inbound_token_encrypted = self._encrypt_secrets(kept)
            row.updated_at = datetime.now(UTC)
        self.connection_cache.drop(connection_id)
        return kept

    def _encrypt_secrets(self, secrets: tuple[str, ...]) -> str:
        return self._box.encrypt(json.dumps(list(secrets)))

    def _decrypt_secrets(self, token: str) -> tuple[str, ...]:
        return tuple(json.loads(self._box.decrypt(token)))

    def _connection_record(self, row: ConnectionRow) -> ConnectionRecord:
        return ConnectionRecord(
            id=row.id,
            name=row.name,
            location_id=row.location_id,
            crm_kind=row.crm_kind,
            crm_url=row.crm_url,
            ghl_token=self._box.decrypt(row.ghl_token_encrypted),
            crm_settings=self._settings_of(row),
            webhook_secrets=self._decrypt_secrets(row.webhook_secrets_encrypted),
            stats_interval_seconds=row.stats_interval_seconds,
            status=row.status,
            status_reason=row.status_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
            inbound_auth=row.inbound_auth,
            inbound_token=self._inbound_tokens(row)[0] if row.inbound_token_encrypted else None,
            inbound_tokens=self._inbound_tokens(row),
            mapping=row.mapping,
            ghl_auth=row.ghl_auth,
            ghl_refresh_token=(
                self._box.decrypt(row.ghl_refresh_token_encrypted)
                if row.ghl_refresh_token_encrypted
                else None
            ),
            token_expires_at=row.token_expires_at,
            last_refresh_at=row.last_refresh_at,
            token_generation=row.token_generation,
            scopes=tuple((row.scopes or "").split()),
            company_id=row.company_id,
        )

    def _settings_of(self, row: ConnectionRow) -> dict[str, Any]:
        if row.crm_settings_encrypted is not None:
            settings: dict[str, Any] = json.loads(self._box.decrypt(row.crm_settings_encrypted))
            return settings
        # A row from before connector settings: a webhook connection's one setting.
        if row.crm_kind == WEBHOOK_KIND:
            return {"secret": self._box.decrypt(row.crm_secret_encrypted)}
        return {}

    def _inbound_tokens(self, row: ConnectionRow) -> tuple[str, ...]:
        if row.inbound_token_encrypted is None:
            return ()
        return self._decrypt_secrets(row.inbound_token_encrypted)


def _connection_row(
    session: Session, connection_id: str, *, for_update: bool = False
) -> ConnectionRow:
    """The row, locked on PostgreSQL when ``for_update`` (read-modify-write); else NotFound."""
    statement = select(ConnectionRow).where(ConnectionRow.id == connection_id)
    if for_update:
        statement = statement.with_for_update()
    row = session.scalars(statement).one_or_none()
    if row is None:
        raise NotFound(f"no connection {connection_id!r}")
    return row


def release_waiting(session: Session, connection_id: str) -> list[EventRecord]:
    """Put the connection's ``waiting`` events back to ``queued``, oldest first; return them.

    Called in the transaction that made the connection active, after its row was locked.
    """
    now = datetime.now(UTC)
    waiting = list(
        session.scalars(
            select(EventRow)
            .where(
                EventRow.connection_id == connection_id,
                EventRow.status == EventStatus.WAITING.value,
            )
            .order_by(EventRow.created_at, EventRow.id)
        )
    )
    # Row by row through the ORM (flushed at commit): these are the rows just read.
    for row in waiting:
        row.status = EventStatus.QUEUED.value
        row.task_id = None
        row.updated_at = now
    return [event_record(row) for row in waiting]
