"""The errors the store raises; callers never see SQLAlchemy's or the driver's own.

    SocialbridgeError
     └── StoreError                   the store could not do what was asked
          ├── StoreUnavailable        the database cannot be reached or has no schema yet: retry
          ├── DuplicateName           a connection (or user) of that name already exists
          ├── NotFound                the connection or event named does not exist
          └── SecretUnreadable        (also a ValueError) a stored secret does not decrypt:
                                      SECRET_KEY changed since it was written

The web edge maps StoreUnavailable to 503 so the CRM retries; the CLI prints the message.
"""

from __future__ import annotations

from socialbridge.errors import SocialbridgeError


class StoreError(SocialbridgeError):
    """Base of every error the store raises."""


class StoreUnavailable(StoreError):
    """The database is down, locked for too long, or not migrated; trying later may work."""


class DuplicateName(StoreError):
    """A connection with this name exists already; names are unique."""


class NotFound(StoreError):
    """No row with this id."""


class SecretUnreadable(StoreError, ValueError):
    """A secret stored encrypted cannot be decrypted with the current SECRET_KEY."""
