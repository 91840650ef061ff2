"""Re-encrypting every stored secret under the current SECRET_KEY (`socialbridge secrets rotate`).

After SECRET_KEY changes, with the old key in SECRET_KEY_FALLBACKS, ``rotate_secrets`` makes
every stored secret readable by SECRET_KEY alone, so the fallback can be dropped: every
``*_encrypted`` column of every connection (GHL tokens, CRM settings, webhook secrets, …) and
of every agency grant (``ghl_agencies``: the agency's OAuth access and refresh tokens). It works
in two passes:

1. It reads every connection and agency grant and sorts each encrypted value: under the
   current key, under a fallback, or readable by no key. If any is unreadable it raises
   ``RotationRefused`` naming each connection or agency and column (never a value) and nothing
   is written.
2. It re-encrypts the values under a fallback, one transaction per connection or agency, with
   the row locked (on PostgreSQL) so that it does not overwrite a change made in the meantime
   (a token refresh saves a new pair under the row's lock too).

One transaction per row rather than one for all: a single long transaction would block every
worker and webhook that writes a connection (SQLite locks the whole file) for as long as the
rotation takes. Stopping halfway is harmless: every value stays readable with SECRET_KEY and
its fallbacks, and running the command again finishes the job. Values already under the
current key are left as they are, and ``updated_at`` is not touched: the secrets themselves do
not change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from store.crypto import SecretBox
from store.database import Database
from store.errors import SecretUnreadable
from store.models import ConnectionRow, GhlAgencyRow


def _encrypted_columns(model: Any) -> tuple[str, ...]:
    return tuple(
        column.name for column in model.__table__.columns if column.name.endswith("_encrypted")
    )


ENCRYPTED_COLUMNS: tuple[str, ...] = _encrypted_columns(ConnectionRow)
"""The connection columns that hold secrets, each a Fernet token (some may be NULL)."""

AGENCY_ENCRYPTED_COLUMNS: tuple[str, ...] = _encrypted_columns(GhlAgencyRow)
"""The columns of an agency grant (``ghl_agencies``) that hold secrets: its two tokens."""

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
    """Values re-encrypted under the current key (they were under a fallback), agencies' too."""
    values_current: int
    """Values already under the current key, left as they were, agencies' too."""
    dry_run: bool
    agencies: int = 0
    """Agency grants (``ghl_agencies``) examined."""
    agencies_rotated: int = 0
    """Agency grants with at least one token re-encrypted."""


@dataclass(frozen=True)
class UnreadableValue:
    """A stored value of a connection that no key opens: which column, never the value."""

    connection_id: str
    connection_name: str
    column: str


@dataclass(frozen=True)
class UnreadableAgencyValue:
    """A token of an agency grant that no key opens: which agency and column, never the value."""

    company_id: str
    column: str


class RotationRefused(SecretUnreadable):
    """Some stored values open with no key; nothing was re-encrypted.

    ``unreadable`` lists every one of connections, ``unreadable_agencies`` every one of agency
    grants; the message names at most ``LISTED_CONNECTIONS`` owners (connections first), so
    that a wrong key on a large store does not print a page per connection.
    """

    LISTED_CONNECTIONS = 10

    def __init__(
        self,
        unreadable: tuple[UnreadableValue, ...],
        unreadable_agencies: tuple[UnreadableAgencyValue, ...] = (),
    ) -> None:
        self.unreadable = unreadable
        self.unreadable_agencies = unreadable_agencies
        columns: dict[str, list[str]] = {}
        for value in unreadable:
            owner = f"{value.connection_name} ({value.connection_id})"
            columns.setdefault(owner, []).append(value.column)
        connections = len(columns)
        for agency_value in unreadable_agencies:
            columns.setdefault(f"agency {agency_value.company_id}", []).append(agency_value.column)
        agencies = len(columns) - connections
        listed = [
            f"{owner}: {', '.join(names)}"
            for owner, names in list(columns.items())[: self.LISTED_CONNECTIONS]
        ]
        if len(columns) > self.LISTED_CONNECTIONS:
            listed.append(f"and {len(columns) - self.LISTED_CONNECTIONS} more")
            if not agencies:
                listed[-1] += " connection(s)"
        holders = f"{connections} connection(s)"
        if agencies:
            holders += f" and {agencies} agency grant(s)"
        super().__init__(
            f"{len(unreadable) + len(unreadable_agencies)} stored value(s) of {holders} open "
            f"with neither SECRET_KEY nor SECRET_KEY_FALLBACKS: {'; '.join(listed)}. Nothing "
            "was re-encrypted: add the key that stored them to SECRET_KEY_FALLBACKS"
        )


@dataclass(frozen=True)
class _Survey:
    """What the first pass found in one table."""

    rows: int
    # Values under the current key in the rows that need nothing.
    current_elsewhere: int
    # Row key -> values of it under the current key, for the rows with a value to rotate.
    stale: dict[str, int]
    stale_values: int
    # (row key, row name, column) of each value no key opens.
    unreadable: tuple[tuple[str, str, str], ...]


class SecretRotationMixin:
    """The key-rotation method of Store."""

    _database: Database
    _box: SecretBox

    def rotate_secrets(
        self, *, dry_run: bool = False, progress: Progress | None = None
    ) -> RotationReport:
        """Re-encrypt every stored secret under SECRET_KEY; see the module's docstring.

        ``dry_run`` only counts. ``progress`` is called after each connection that needed
        re-encrypting (not on a dry run); agency grants, a handful per install, follow the
        connections without progress calls. RotationRefused, with nothing changed, when a value
        opens with no key.
        """
        connections = self._survey(ConnectionRow, ConnectionRow.id, ConnectionRow.name)
        agencies = self._survey(GhlAgencyRow, GhlAgencyRow.company_id, GhlAgencyRow.company_id)
        if connections.unreadable or agencies.unreadable:
            raise RotationRefused(
                tuple(UnreadableValue(*value) for value in connections.unreadable),
                tuple(UnreadableAgencyValue(key, column) for key, _, column in agencies.unreadable),
            )
        if dry_run:
            return RotationReport(
                connections=connections.rows,
                connections_rotated=len(connections.stale),
                values_rotated=connections.stale_values + agencies.stale_values,
                values_current=sum(
                    survey.current_elsewhere + sum(survey.stale.values())
                    for survey in (connections, agencies)
                ),
                dry_run=True,
                agencies=agencies.rows,
                agencies_rotated=len(agencies.stale),
            )
        connections_rotated = agencies_rotated = values_rotated = 0
        values_current = connections.current_elsewhere + agencies.current_elsewhere
        for done, connection_id in enumerate(connections.stale, start=1):
            # Counted again here rather than taken from the survey: other processes may have
            # rewritten a value since.
            rotated, current = self._rotate_row(ConnectionRow, connection_id)
            connections_rotated += bool(rotated)
            values_rotated += rotated
            values_current += current
            if progress is not None:
                progress(done, len(connections.stale))
        for company_id in agencies.stale:
            rotated, current = self._rotate_row(GhlAgencyRow, company_id)
            agencies_rotated += bool(rotated)
            values_rotated += rotated
            values_current += current
        return RotationReport(
            connections=connections.rows,
            connections_rotated=connections_rotated,
            values_rotated=values_rotated,
            values_current=values_current,
            dry_run=False,
            agencies=agencies.rows,
            agencies_rotated=agencies_rotated,
        )

    def _survey(self, model: Any, key: Any, name: Any) -> _Survey:
        """Sort every encrypted value of ``model``'s rows: current, under a fallback, unreadable."""
        names = _encrypted_columns(model)
        rows = current_elsewhere = stale_values = 0
        stale: dict[str, int] = {}
        unreadable: list[tuple[str, str, str]] = []
        with self._database.transaction() as session:
            found = session.execute(
                select(key, name, *(getattr(model, column) for column in names)).order_by(key)
            )
            for row_key, row_name, *tokens in found:
                rows += 1
                current, old, lost = self._sort_tokens(names, tokens)
                unreadable.extend((row_key, row_name, column) for column in lost)
                if old:
                    stale[row_key] = current
                    stale_values += old
                else:
                    current_elsewhere += current
        return _Survey(rows, current_elsewhere, stale, stale_values, tuple(unreadable))

    def _sort_tokens(
        self, columns: Sequence[str], tokens: Sequence[str | None]
    ) -> tuple[int, int, list[str]]:
        """(values under the current key, values under a fallback, columns no key opens)."""
        current = old = 0
        lost: list[str] = []
        for column, token in zip(columns, tokens, strict=True):
            if token is None:
                continue
            if self._box.is_current(token):
                current += 1
                continue
            try:
                self._box.decrypt(token)
            except SecretUnreadable:
                lost.append(column)
                continue
            old += 1
        return current, old, lost

    def _rotate_row(self, model: Any, key: str) -> tuple[int, int]:
        """(values re-encrypted, values already under the current key) of one row."""
        rotated = current = 0
        with self._database.transaction() as session:
            row = session.get(model, key, with_for_update=True)
            if row is None:  # deleted since the survey: nothing left to rotate
                return 0, 0
            for column in _encrypted_columns(model):
                token: str | None = getattr(row, column)
                if token is None:
                    continue
                if self._box.is_current(token):
                    current += 1
                    continue
                # SecretUnreadable here (a value written since the survey by a process with
                # another key) rolls back this row only; those done before stay done.
                setattr(row, column, self._box.rotate(token))
                rotated += 1
        return rotated, current
