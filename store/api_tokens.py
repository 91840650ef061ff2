"""API tokens: a user's credentials for scripts calling the JSON API (`/api/…`).

A token is ``sb_`` and 43 characters of a 32-byte random secret (base64url). Only its SHA-256
is stored: a token is shown once, when it is made, and cannot be read back. A fast hash is
enough here (unlike passwords): 256 random bits cannot be guessed from a leaked hash, and the
lookup by hash is one indexed read per request. A token acts as its user, with the user's role
at the time of each request; removing the user deletes its tokens (a password reset does not:
a token is a credential of its own, listed and revoked by itself).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.database import Database
from store.errors import NotFound
from store.ids import new_api_token_id
from store.models import ApiTokenRow, UserRow
from store.records import ApiTokenRecord, UserRecord
from store.users import user_record

TOKEN_PREFIX = "sb_"  # noqa: S105 (a prefix, not a secret)
NAME_MAX_LENGTH = 100
# Writing the last use on every request would make each API read a write: once a minute per
# token says as much to a person reading the list.
LAST_USED_PRECISION = timedelta(minutes=1)


def new_token() -> str:
    """A new token: the prefix (so a leaked one is recognisable) and 32 random bytes."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored of ``token``: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()


def looks_like_token(token: str) -> bool:
    """Whether ``token`` has the form of one of ours (a cheap refusal before any read)."""
    return token.startswith(TOKEN_PREFIX) and 20 < len(token) <= 200


class ApiTokensMixin:
    """The API token methods of Store."""

    _database: Database

    def create_api_token(
        self, user_id: str, name: str = "", *, now: datetime | None = None
    ) -> tuple[ApiTokenRecord, str]:
        """A new token of the user: its record and the token itself (the only time it is
        known). NotFound when there is no such user; ValueError for a name too long."""
        name = name.strip()
        if len(name) > NAME_MAX_LENGTH:
            raise ValueError(f"name: at most {NAME_MAX_LENGTH} characters")
        token = new_token()
        with self._database.transaction() as session:
            user = session.get(UserRow, user_id)
            if user is None:
                raise NotFound(f"no user {user_id!r}")
            row = ApiTokenRow(
                id=new_api_token_id(),
                user_id=user.id,
                name=name,
                token_hash=token_hash(token),
                created_at=now or datetime.now(UTC),
                last_used_at=None,
            )
            session.add(row)
            session.flush()
            return _token_record(row, user.email), token

    def list_api_tokens(self, user_id: str | None = None) -> list[ApiTokenRecord]:
        """The tokens of one user (or of all), by email then newest first."""
        with self._database.transaction() as session:
            query = (
                select(ApiTokenRow, UserRow.email)
                .join(UserRow, UserRow.id == ApiTokenRow.user_id)
                .order_by(UserRow.email, ApiTokenRow.created_at.desc(), ApiTokenRow.id)
            )
            if user_id is not None:
                query = query.where(ApiTokenRow.user_id == user_id)
            return [_token_record(row, email) for row, email in session.execute(query)]

    def get_api_token(self, token_id: str) -> ApiTokenRecord | None:
        """The token with this id, or None."""
        with self._database.transaction() as session:
            found = _row_with_email(session, token_id)
            return None if found is None else _token_record(*found)

    def revoke_api_token(self, token_id: str) -> ApiTokenRecord:
        """Delete the token: the next request carrying it gets 401. NotFound when there is
        none (revoked already, or its user removed)."""
        with self._database.transaction() as session:
            found = _row_with_email(session, token_id)
            if found is None:
                raise NotFound(f"no API token {token_id!r}")
            record = _token_record(*found)
            session.execute(delete(ApiTokenRow).where(ApiTokenRow.id == token_id))
            return record

    def use_api_token(
        self, token: str, *, now: datetime | None = None
    ) -> tuple[ApiTokenRecord, UserRecord] | None:
        """The token and its user when ``token`` is a live one, else None; notes its use."""
        if not looks_like_token(token):
            return None
        when = now or datetime.now(UTC)
        with self._database.transaction() as session:
            found = session.execute(
                select(ApiTokenRow, UserRow)
                .join(UserRow, UserRow.id == ApiTokenRow.user_id)
                .where(ApiTokenRow.token_hash == token_hash(token))
            ).one_or_none()
            if found is None:
                return None
            row, user = found
            if row.last_used_at is None or when - row.last_used_at >= LAST_USED_PRECISION:
                row.last_used_at = when
            return _token_record(row, user.email), user_record(user)


def _row_with_email(session: Session, token_id: str) -> tuple[ApiTokenRow, str] | None:
    found = session.execute(
        select(ApiTokenRow, UserRow.email)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .where(ApiTokenRow.id == token_id)
    ).one_or_none()
    return None if found is None else (found[0], found[1])


def _token_record(row: ApiTokenRow, email: str) -> ApiTokenRecord:
    return ApiTokenRecord(
        id=row.id,
        user_id=row.user_id,
        email=email,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )
