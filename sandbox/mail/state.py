"""Everything the sandbox mail server holds: the messages it took, its logins, its faults.

One login is there at every start (`DEMO_SMTP_USER` / `DEMO_SMTP_PASSWORD`, published like
the other sandboxes' demo logins); passwords are only ever compared, never stored with the
messages, logged or shown.

Messages are numbered from 1 in the order the server took them, and a number is never
given twice, not even after ``DELETE /_sandbox/messages`` or a restart. The newest
`MAX_MESSAGES_KEPT` are held in memory; older ones are dropped, oldest first.

With a data folder, each message is appended to ``sandbox-mail.jsonl`` there (a
`sandbox.crm.state_file.StateFile`: one ``write()`` per message, so a process killed at any
moment leaves the whole message or none of it; deleting the messages is one atomic rewrite)
and read back at the next start. Faults are kept in memory only: a restarted server behaves.
"""

from __future__ import annotations

import copy
import datetime as dt
import hmac
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sandbox.crm.state_file import StateFile, StateFileError
from sandbox.faultqueue import FaultQueue
from sandbox.mail.faults import Fault
from sandbox.mail.messages import KeptMessage, addressed_to, read_message

DEMO_SMTP_USER = "agent@example.com"
DEMO_SMTP_PASSWORD = "sandbox-password"  # noqa: S105 - the sandbox's published demo login

STATE_FILE_NAME = "sandbox-mail.jsonl"
MAX_MESSAGES_KEPT = 10_000


class MailState:
    """The messages, logins and faults of one sandbox mail server. Thread-safe: the SMTP
    server's event loop and the HTTP server's threads share it."""

    def __init__(
        self, data_dir: Path | None = None, users: Mapping[str, str] | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._users = dict({DEMO_SMTP_USER: DEMO_SMTP_PASSWORD} if users is None else users)
        self.faults: FaultQueue[Fault] = FaultQueue()
        self._messages: deque[KeptMessage] = deque(maxlen=MAX_MESSAGES_KEPT)
        self._next_number = 1
        self.state_file = None if data_dir is None else StateFile(data_dir / STATE_FILE_NAME)
        if self.state_file is not None:
            for entry in self.state_file.load():
                self._replay(entry)

    def password_matches(self, login: str, password: bytes) -> bool:
        """True when `login` is a known user whose password is `password` (UTF-8)."""
        expected = self._users.get(login)
        if expected is None:
            return False
        return hmac.compare_digest(password, expected.encode())

    def keep(
        self,
        *,
        envelope_from: str,
        envelope_to: Iterable[str],
        content: bytes,
        auth_user: str | None,
        tls: bool,
    ) -> KeptMessage:
        """Number and keep one received message (on disk first); return a copy of it."""
        message = read_message(
            number=0,
            received_at=_utc_now(),
            envelope_from=envelope_from,
            envelope_to=envelope_to,
            content=content,
            auth_user=auth_user,
            tls=tls,
        )
        with self._lock:
            message["id"] = self._next_number
            self._persist([{"kind": "message", "message": message}])
            self._next_number += 1
            self._messages.append(message)
            return copy.deepcopy(message)

    def messages(self, to: str | None = None) -> list[KeptMessage]:
        """Copies of the messages kept, oldest first; with `to`, only those addressed to it
        (in the envelope, To or Cc)."""
        with self._lock:
            found = [m for m in self._messages if to is None or addressed_to(m, to)]
            return copy.deepcopy(found)

    def message(self, number: int) -> KeptMessage | None:
        with self._lock:
            for message in self._messages:
                if message["id"] == number:
                    return copy.deepcopy(message)
            return None

    def delete_messages(self) -> int:
        """Forget every message (numbers go on from where they were); return how many."""
        with self._lock:
            if self.state_file is not None:
                self.state_file.rewrite([{"kind": "counter", "next": self._next_number}])
            deleted = len(self._messages)
            self._messages.clear()
            return deleted

    def close(self) -> None:
        if self.state_file is not None:
            self.state_file.close()

    def _persist(self, entries: list[Mapping[str, Any]]) -> None:
        if self.state_file is not None:
            self.state_file.append(entries)

    def _replay(self, entry: Mapping[str, Any]) -> None:
        kind = entry["kind"]
        if kind == "message":
            message = dict(entry["message"])
            self._messages.append(message)
            self._next_number = max(self._next_number, int(message["id"]) + 1)
        elif kind == "counter":
            self._next_number = max(self._next_number, int(entry["next"]))
        else:
            raise StateFileError(f"unknown entry kind {kind!r} in the mail sandbox's state file")


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
