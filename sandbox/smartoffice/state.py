"""Everything the sandbox XML Engine holds: accounts, objects, sessions, requests, faults.

One account is there at every start, usable both ways (`DEMO_*` below); more are added with
``POST /_sandbox/accounts``. An account is an office and a user, with a password for the
direct mode and/or a sitename and one or more api-key/api-secret pairs for the gateway
(several pairs: a key being rotated and its successor both work, as the vendor describes).

Sessions are per account: a request with ``<keepsession>true</keepsession>`` keeps the
account's session open, and the search ids it hands out stay valid; a request without it
closes the session when it ends, and every search id of that account is forgotten. Two
workers of one account that page through searches must therefore all keep the session, or
be ready for error 6006 and start their search again.

Every read and write goes through ``lock``. With a data folder, the objects, the accounts
added at run time and the id counters are kept in ``sandbox-smartoffice.jsonl`` there (a
`sandbox.crm.state_file.StateFile`: each commit is one append, a reset one atomic rewrite)
and read back at the next start. Sessions, the request log and faults are kept in memory.
"""

from __future__ import annotations

import copy
import datetime as dt
import hmac
import itertools
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from sandbox.crm.state_file import StateFile, StateFileError
from sandbox.faultqueue import FaultQueue
from sandbox.smartoffice.catalogue import SERVER_TIMEZONE
from sandbox.smartoffice.faults import Fault
from sandbox.smartoffice.store import Change, ObjectStore

DEMO_OFFICE = "demo"
DEMO_USER = "agent"
DEMO_PASSWORD = "sandbox-password"  # noqa: S105 - the sandbox's published demo login
DEMO_SITENAME = "sandbox"
DEMO_API_KEY = "sandbox-key"
DEMO_API_SECRET = "sandbox-secret"  # noqa: S105 - published, like the password
DEMO_CONTACT_ID = "Contact.1.31"

STATE_FILE_NAME = "sandbox-smartoffice.jsonl"
MAX_REQUESTS_KEPT = 5000

AccountKey = tuple[str, str]
"""(office, user)."""

_NAME = validate.Regexp(r"^[A-Za-z0-9.-][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ApiKey:
    api_key: str
    api_secret: str


@dataclass(frozen=True)
class Account:
    office: str
    user: str
    password: str | None = None
    sitename: str | None = None
    api_keys: tuple[ApiKey, ...] = ()

    @property
    def key(self) -> AccountKey:
        return (self.office, self.user)

    @property
    def gateway_username(self) -> str | None:
        return None if self.sitename is None else f"{self.sitename}_{self.office}_{self.user}"

    def public_json(self) -> dict[str, Any]:
        """The account as ``GET /_sandbox/accounts`` shows it: no password, no api-secret."""
        return {
            "office": self.office,
            "user": self.user,
            "direct": self.password is not None,
            "sitename": self.sitename,
            "gateway_username": self.gateway_username,
            "api_keys": [k.api_key for k in self.api_keys],
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "office": self.office,
            "user": self.user,
            "password": self.password,
            "sitename": self.sitename,
            "api_keys": [{"api_key": k.api_key, "api_secret": k.api_secret} for k in self.api_keys],
        }


class _ApiKeySchema(Schema):
    class Meta:
        unknown = RAISE

    api_key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    api_secret = fields.String(required=True, validate=validate.Length(min=1, max=200))


class AccountSchema(Schema):
    """An account as posted to ``/_sandbox/accounts``: direct, gateway, or both."""

    class Meta:
        unknown = RAISE

    office = fields.String(required=True, validate=_NAME)
    user = fields.String(required=True, validate=_NAME)
    password = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    sitename = fields.String(load_default=None, validate=_NAME)
    api_keys = fields.List(
        fields.Nested(_ApiKeySchema), load_default=list, validate=validate.Length(max=10)
    )

    @validates_schema
    def _usable(self, data: dict[str, Any], **_: Any) -> None:
        if (data["sitename"] is None) != (not data["api_keys"]):
            raise ValidationError("A gateway account needs a sitename and api_keys.", "api_keys")
        if data["password"] is None and data["sitename"] is None:
            raise ValidationError("Give a password, a sitename with api_keys, or both.", "_schema")


def load_account(payload: Any) -> Account:
    """An account from JSON; raise ValidationError with field messages otherwise."""
    if not isinstance(payload, dict):
        raise ValidationError({"_body": ["Expected a JSON object."]})
    data = AccountSchema().load(payload)
    keys = tuple(ApiKey(**k) for k in data.pop("api_keys"))
    return Account(**data, api_keys=keys)


DEMO_ACCOUNT = Account(
    DEMO_OFFICE, DEMO_USER, DEMO_PASSWORD, DEMO_SITENAME, (ApiKey(DEMO_API_KEY, DEMO_API_SECRET),)
)


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class SavedSearch:
    """A search kept in an account's session: its matches, found when it first ran."""

    owner: AccountKey
    type_name: str
    template: dict[str, Any]
    ids: list[str]
    pagesize: int
    next_page: int = 1


class Sessions:
    """Open sessions' saved searches, by search id (opaque, never used twice)."""

    def __init__(self) -> None:
        self.searches: dict[str, SavedSearch] = {}

    def save(self, search: SavedSearch) -> str:
        search_id = uuid.uuid4().hex
        self.searches[search_id] = search
        return search_id

    def find(self, owner: AccountKey, search_id: str) -> SavedSearch | None:
        search = self.searches.get(search_id)
        return search if search is not None and search.owner == owner else None

    def close(self, owner: AccountKey) -> None:
        """The account's session ends: its search ids mean nothing any more."""
        for search_id in [i for i, s in self.searches.items() if s.owner == owner]:
            del self.searches[search_id]

    def clear(self) -> None:
        self.searches.clear()


class SmartOfficeState:
    """The sandbox's state; hold ``lock`` for anything but `faults` (which locks itself)."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.state_file = None if data_dir is None else StateFile(data_dir / STATE_FILE_NAME)
        self.accounts: dict[AccountKey, Account] = {DEMO_ACCOUNT.key: DEMO_ACCOUNT}
        self.store = ObjectStore()
        self.sessions = Sessions()
        self.faults: FaultQueue[Fault] = FaultQueue()
        self.requests: deque[dict[str, Any]] = deque(maxlen=MAX_REQUESTS_KEPT)
        self._request_numbers = itertools.count(1)
        if self.state_file is not None:
            for entry in self.state_file.load():
                self._replay(entry)

    def now(self) -> dt.datetime:
        return dt.datetime.now(SERVER_TIMEZONE)

    def add_account(self, account: Account) -> bool:
        """Add or replace an account; True when it replaced one."""
        known = account.key in self.accounts
        self._persist([{"kind": "account", "account": account.as_json()}])
        self.accounts[account.key] = account
        return known

    def commit(self, changes: list[Change]) -> None:
        """Keep one unit of work: on disk first, so a failed write keeps memory as disk is."""
        self._persist(
            {"kind": "deleted", "id": i} if r is None else {"kind": "object", "record": r}
            for i, r in changes
        )
        self.store.apply(copy.deepcopy(changes))

    def log_request(self, entry: Mapping[str, Any]) -> None:
        self.requests.append({"seq": next(self._request_numbers), **entry})

    def reset(self) -> None:
        """Objects back to the seed contacts; no requests, sessions or faults; accounts stay."""
        self.store.reset()
        self.sessions.clear()
        self.requests.clear()
        self.faults.clear()
        if self.state_file is not None:
            added = [a for k, a in self.accounts.items() if k != DEMO_ACCOUNT.key]
            self.state_file.rewrite(
                [{"kind": "account", "account": a.as_json()} for a in added]
                + [
                    {"kind": "counter", "type": name, "next": number}
                    for name, number in self.store.counters.items()
                ]
            )

    def _persist(self, entries: Iterable[Mapping[str, Any]]) -> None:
        if self.state_file is not None:
            self.state_file.append(entries)

    def _replay(self, entry: Mapping[str, Any]) -> None:
        kind = entry["kind"]
        if kind == "account":
            account = load_account(entry["account"])
            self.accounts[account.key] = account
        elif kind == "object":
            self.store.apply([(entry["record"]["id"], entry["record"])])
        elif kind == "deleted":
            self.store.apply([(entry["id"], None)])
        elif kind == "counter":
            counters = self.store.counters
            counters[entry["type"]] = max(counters.get(entry["type"], 0), entry["next"])
        else:
            raise StateFileError(f"unknown entry kind {kind!r} in the SmartOffice state file")
