"""Console users: add, list, remove, reset a password, verify one, and the sign-in failures
that lock an account. Passwords are hashed by ``store.passwords``; records never carry the
hash. Emails are compared and stored lower-cased."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store import passwords
from store.database import Database
from store.errors import DuplicateName, NotFound
from store.ids import new_user_id
from store.models import ApiTokenRow, UserRow
from store.records import UserRecord, UserRole


class InvalidEmail(ValueError):
    """Not an address we can use as a sign-in name."""


def normalize_email(email: str) -> str:
    """The stored form of ``email`` (trimmed, lower-cased); InvalidEmail when it is not one."""
    found = email.strip().lower()
    local, at, domain = found.partition("@")
    if (
        not at
        or not local
        or "." not in domain
        or "@" in domain
        or len(found) > 320
        or any(character.isspace() or ord(character) < 32 for character in found)
    ):
        raise InvalidEmail(f"{email!r} is not an email address")
    return found


class UsersMixin:
    """The console user methods of Store."""

    _database: Database

    def add_user(self, email: str, password: str, role: UserRole = UserRole.VIEWER) -> UserRecord:
        """A new user; DuplicateName when the email is taken, PasswordRefused, InvalidEmail."""
        address = normalize_email(email)
        passwords.check_new_password(password)
        encoded = passwords.hash_password(password)
        now = datetime.now(UTC)
        try:
            with self._database.transaction() as session:
                row = UserRow(
                    id=new_user_id(),
                    email=address,
                    role=UserRole(role).value,
                    password_hash=encoded,
                    session_generation=1,
                    failed_attempts=0,
                    locked_until=None,
                    last_sign_in_at=None,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                return user_record(row)
        except IntegrityError as error:
            raise DuplicateName(f"a user {address!r} exists already") from error

    def list_users(self) -> list[UserRecord]:
        """Every user, by email."""
        with self._database.transaction() as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.email))
            return [user_record(row) for row in rows]

    def get_user(self, user_id: str) -> UserRecord | None:
        """The user with this id, or None."""
        with self._database.transaction() as session:
            row = session.get(UserRow, user_id)
            return None if row is None else user_record(row)

    def find_user(self, email: str) -> UserRecord | None:
        """The user with this email (any case), or None."""
        try:
            address = normalize_email(email)
        except InvalidEmail:
            return None
        with self._database.transaction() as session:
            row = session.scalar(select(UserRow).where(UserRow.email == address))
            return None if row is None else user_record(row)

    def count_admins(self) -> int:
        """How many users are admins."""
        with self._database.transaction() as session:
            found = session.scalar(
                select(func.count()).select_from(UserRow).where(UserRow.role == UserRole.ADMIN)
            )
            return int(found or 0)

    def remove_user(self, email: str) -> UserRecord:
        """Delete the user: its sessions and API tokens stop working at once; NotFound when
        there is none."""
        with self._database.transaction() as session:
            row = _locked_row(session, email)
            record = user_record(row)
            # The foreign key cascades too; this does not depend on the database enforcing it.
            session.execute(delete(ApiTokenRow).where(ApiTokenRow.user_id == row.id))
            session.delete(row)
            return record

    def reset_password(self, email: str, password: str) -> UserRecord:
        """Set a new password: the account unlocks and every earlier session ends."""
        passwords.check_new_password(password)
        encoded = passwords.hash_password(password)
        with self._database.transaction() as session:
            row = _locked_row(session, email)
            row.password_hash = encoded
            row.session_generation += 1
            row.failed_attempts = 0
            row.locked_until = None
            row.updated_at = datetime.now(UTC)
            return user_record(row)

    def verify_user_password(self, email: str, password: str) -> UserRecord | None:
        """The user when ``password`` is theirs, else None (unknown email included).

        Counts nothing and ignores locks: the caller (the console's sign-in) decides what a
        failure means. An unknown email costs one hash as a known one does.
        """
        user_id, encoded = None, passwords.dummy_hash()
        try:
            address = normalize_email(email)
        except InvalidEmail:
            address = None
        if address is not None:
            with self._database.transaction() as session:
                row = session.scalar(select(UserRow).where(UserRow.email == address))
                if row is not None:
                    user_id, encoded = row.id, row.password_hash
        if not passwords.verify_password(password, encoded) or user_id is None:
            return None
        if passwords.needs_rehash(encoded):
            # Parameters were raised since this hash was made: store it anew, same password.
            with self._database.transaction() as session:
                row = session.get(UserRow, user_id)
                if row is not None and row.password_hash == encoded:
                    row.password_hash = passwords.hash_password(password)
        return self.get_user(user_id)

    def record_sign_in_failure(
        self, user_id: str, *, lock_after: int, lock_for: timedelta, now: datetime | None = None
    ) -> UserRecord:
        """Count a failed sign-in; the ``lock_after``-th in a row locks the account for
        ``lock_for`` (and the count starts again for after the lock)."""
        when = now or datetime.now(UTC)
        with self._database.transaction() as session:
            row = session.get(UserRow, user_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no user {user_id!r}")
            row.failed_attempts += 1
            if row.failed_attempts >= lock_after:
                row.locked_until = when + lock_for
                row.failed_attempts = 0
            row.updated_at = when
            return user_record(row)

    def record_sign_in_success(self, user_id: str, *, now: datetime | None = None) -> UserRecord:
        """Forget the failures and note the time of the sign-in."""
        when = now or datetime.now(UTC)
        with self._database.transaction() as session:
            row = session.get(UserRow, user_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no user {user_id!r}")
            row.failed_attempts = 0
            row.locked_until = None
            row.last_sign_in_at = when
            row.updated_at = when
            return user_record(row)


def _locked_row(session: Session, email: str) -> UserRow:
    try:
        address = normalize_email(email)
    except InvalidEmail:
        raise NotFound(f"no user {email!r}") from None
    row = session.scalar(select(UserRow).where(UserRow.email == address).with_for_update())
    if row is None:
        raise NotFound(f"no user {address!r}")
    return row


def user_record(row: UserRow) -> UserRecord:
    return UserRecord(
        id=row.id,
        email=row.email,
        role=UserRole(row.role),
        session_generation=row.session_generation,
        failed_attempts=row.failed_attempts,
        locked_until=row.locked_until,
        last_sign_in_at=row.last_sign_in_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
