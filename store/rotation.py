"""Re-encrypting every stored secret under the current SECRET_KEY (`socialbridge secrets rotate`).

After SECRET_KEY changes, with the old key in SECRET_KEY_FALLBACKS, ``rotate_secrets`` makes
every ``*_encrypted`` column of every connection readable by SECRET_KEY alone, so the fallback
can be dropped. It works in two passes:

1. It reads every connection and sorts each encrypted value: under the current key, under a
   fallback, or readable by no key. If any is unreadable it raises ``RotationRefused`` naming
   each connection and column (never a value) and nothing is written.
2. It re-encrypts the values under a fallback, one transaction per connection, with the row
   locked (on PostgreSQL) so that it does not overwrite a change made in the meantime.

One transaction per connection rather than one for all: a single long transaction would block
every worker and webhook that writes a connection (SQLite locks the whole file) for as long as
the rotation takes. Stopping halfway is harmless: every value stays readable with SECRET_KEY
and its fallbacks, and running the command again finishes the job. Values already under the
current key are left as they are, and ``updated_at`` is not touched: the secrets themselves do
not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from store.crypto import SecretBox
from store.database import Database
from store.errors import SecretUnreadable
from store.models import ConnectionRow

ENCRYPTED_COLUMNS: tuple[str, ...] = tuple(
    column.name for column in ConnectionRow.__table__.columns if column.name.endswith("_encrypted")
)
"""The connection columns that hold secrets, each a Fernet token (some may be NULL)."""

Progress = Callable[[int, int], None]
"""Called with (connections done, connections in all) as the rotation goes."""


@dataclass(frozen=True)
class RotationReport:
    """What ``rotate_secrets`` did (or, on a dry run, would do)."""

    connections: int
    """Connections examined."""
    connections_rotated: int
    """Connections with at least one value re-encrypted."""
    values_rotated: int
    """Values re-encrypted under the current key (they were under a fallback)."""
    values_current: int
    """Values already under the current key, left as they were."""
    dry_run: bool


@dataclass(frozen=True)
class UnreadableValue:
    """A stored value that no key opens: which connection and column, never the value."""

    connection_id: str
    connection_name: str
    column: str


class RotationRefused(SecretUnreadable):
    """Some stored values open with no key; nothing was re-encrypted.

    ``unreadable`` lists every one; the message names at most ``LISTED_CONNECTIONS``
    connections, so that a wrong key on a large store does not print a page per connection.
    """

    LISTED_CONNECTIONS = 10

    def __init__(self, unreadable: tuple[UnreadableValue, ...]) -> None:
        self.unreadable = unreadable
        columns: dict[tuple[str, str], list[str]] = {}
        for value in unreadable:
            columns.setdefault((value.connection_name, value.connection_id), []).append(
                value.column
            )
        listed = [
            f"{name} ({connection_id}): {', '.join(names)}"
            for (name, connection_id), names in list(columns.items())[: self.LISTED_CONNECTIONS]
        ]
        if len(columns) > self.LISTED_CONNECTIONS:
            listed.append(f"and {len(columns) - self.LISTED_CONNECTIONS} more connection(s)")
        super().__init__(
            f"{len(unreadable)} stored value(s) of {len(columns)} connection(s) open with "
            f"neither SECRET_KEY nor SECRET_KEY_FALLBACKS: {'; '.join(listed)}. Nothing was "
            "re-encrypted: add the key that stored them to SECRET_KEY_FALLBACKS"
        )


@dataclass(frozen=True)
class _Survey:
    connections: int
    # Values under the current key in the connections that need nothing.
    current_elsewhere: int
    # Connection id -> values of it under the current key, for those with a value to rotate.
    stale: dict[str, int]
    stale_values: int
    unreadable: tuple[UnreadableValue, ...]


class SecretRotationMixin:
    """The key-rotation method of Store."""

    _database: Database
    _box: SecretBox

    def rotate_secrets(
        self, *, dry_run: bool = False, progress: Progress | None = None
    ) -> RotationReport:
        """Re-encrypt every stored secret under SECRET_KEY; see the module's docstring.

        ``dry_run`` only counts. ``progress`` is called after each connection that needed
        re-encrypting (not on a dry run). RotationRefused, with nothing changed, when a value
        opens with no key.
        """
        survey = self._survey_secrets()
        if survey.unreadable:
            raise RotationRefused(survey.unreadable)
        if dry_run:
            return RotationReport(
                connections=survey.connections,
                connections_rotated=len(survey.stale),
                values_rotated=survey.stale_values,
                values_current=survey.current_elsewhere + sum(survey.stale.values()),
                dry_run=True,
            )
        connections_rotated = values_rotated = 0
        values_current = survey.current_elsewhere
        for done, connection_id in enumerate(survey.stale, start=1):
            # Counted again here rather than taken from the survey: other processes may have
            # rewritten a value since.
            rotated, current = self._rotate_connection(connection_id)
            connections_rotated += bool(rotated)
            values_rotated += rotated
            values_current += current
            if progress is not None:
                progress(done, len(survey.stale))
        return RotationReport(
            connections=survey.connections,
            connections_rotated=connections_rotated,
            values_rotated=values_rotated,
            values_current=values_current,
            dry_run=False,
        )

    def _survey_secrets(self) -> _Survey:
        columns = [getattr(ConnectionRow, name) for name in ENCRYPTED_COLUMNS]
        connections = current_elsewhere = stale_values = 0
        stale: dict[str, int] = {}
        unreadable: list[UnreadableValue] = []
        with self._database.transaction() as session:
            rows = session.execute(
                select(ConnectionRow.id, ConnectionRow.name, *columns).order_by(ConnectionRow.id)
            )
            for connection_id, name, *tokens in rows:
                connections += 1
                current = old = 0
                for column, token in zip(ENCRYPTED_COLUMNS, tokens, strict=True):
                    if token is None:
                        continue
                    if self._box.is_current(token):
                        current += 1
                        continue
                    try:
                        self._box.decrypt(token)
                    except SecretUnreadable:
                        unreadable.append(UnreadableValue(connection_id, name, column))
                        continue
                    old += 1
                if old:
                    stale[connection_id] = current
                    stale_values += old
                else:
                    current_elsewhere += current
        return _Survey(connections, current_elsewhere, stale, stale_values, tuple(unreadable))

    def _rotate_connection(self, connection_id: str) -> tuple[int, int]:
        """(values re-encrypted, values already under the current key) of one connection."""
        rotated = current = 0
        with self._database.transaction() as session:
            statement = (
                select(ConnectionRow).where(ConnectionRow.id == connection_id).with_for_update()
            )
            row = session.scalars(statement).one_or_none()
            if row is None:  # deleted since the survey: nothing left to rotate
                return 0, 0
            for column in ENCRYPTED_COLUMNS:
                token: str | None = getattr(row, column)
                if token is None:
                    continue
                if self._box.is_current(token):
                    current += 1
                    continue
                # SecretUnreadable here (a value written since the survey by a process with
                # another key) rolls back this connection only; those done before stay done.
                setattr(row, column, self._box.rotate(token))
                rotated += 1
        return rotated, current
