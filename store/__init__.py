"""The store: connections, the event log, post records and statistics snapshots.

    store = Store(settings.database_url, settings.require_secret_key())
    event, created = store.record_event(connection_id=..., type=..., payload=..., webhook_id=...)

The schema is created and upgraded by ``store.migrate.upgrade(database_url)``.
"""

from store.crypto import SecretBox
from store.errors import DuplicateName, NotFound, SecretUnreadable, StoreError, StoreUnavailable
from store.event_attempts import AttemptOutcome, AttemptRecord
from store.events import due_for_attempt
from store.ghl_auth import LocationMismatch
from store.mapping_versions import MappingVersionRecord
from store.passwords import PasswordRefused
from store.records import (
    ApiTokenRecord,
    ConnectionRecord,
    ConnectionStatus,
    CrmWriteRecord,
    ErrorKind,
    EventRecord,
    EventSource,
    EventStatus,
    GhlAgencyRecord,
    GhlAppEventRecord,
    GhlAuth,
    PostRecord,
    SnapshotRecord,
    UserRecord,
    UserRole,
    WriteStatus,
)
from store.repository import Store
from store.users import InvalidEmail

__all__ = [
    "ApiTokenRecord",
    "AttemptOutcome",
    "AttemptRecord",
    "ConnectionRecord",
    "ConnectionStatus",
    "CrmWriteRecord",
    "DuplicateName",
    "ErrorKind",
    "EventRecord",
    "EventSource",
    "EventStatus",
    "GhlAgencyRecord",
    "GhlAppEventRecord",
    "GhlAuth",
    "InvalidEmail",
    "LocationMismatch",
    "MappingVersionRecord",
    "NotFound",
    "PasswordRefused",
    "PostRecord",
    "SecretBox",
    "SecretUnreadable",
    "SnapshotRecord",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "UserRecord",
    "UserRole",
    "WriteStatus",
    "due_for_attempt",
]
