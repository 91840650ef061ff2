"""The sandbox CRM's state on disk: a JSON-lines log, replayed when the sandbox starts.

    state_file = StateFile(data_dir / STATE_FILE_NAME)
    for entry in state_file.load(): ...          # what earlier runs wrote, oldest first
    state_file.append([{"kind": "account", ...}])

A real CRM does not forget which webhook-ids it has stored when it restarts; neither may the
sandbox, or a run that kills it could not tell a redelivery from a second write. Each change
is appended as it happens (accounts, stored write-backs, deliveries), in one `write()` per
change, so a process killed at any moment leaves either the whole change or none of it: the
kernel keeps what was written even when the process dies (a power cut could lose the last
second, which no sandbox run survives anyway). A line cut short by such a kill is dropped at
the next start; a line broken anywhere else means the file is not ours, and is an error.

The file holds the accounts' webhook secrets, so it is created readable by its owner only.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

STATE_FILE_NAME = "sandbox-crm.jsonl"


class StateFileError(ValueError):
    """The state file cannot be read back; the message names the file and the line."""


class StateFile:
    """An append-only JSON-lines file of state changes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fd: int | None = None

    def load(self) -> list[dict[str, Any]]:
        """Every entry written so far, oldest first; a torn last line is cut off the file."""
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        complete, _, torn = raw.rpartition(b"\n")
        if torn:
            # The writer was killed in the middle of its last change: that change never
            # happened (its caller got no answer). Cut it, so the next append starts a line.
            with self.path.open("r+b") as file:
                file.truncate(len(complete) + 1 if complete else 0)
        entries: list[dict[str, Any]] = []
        for number, line in enumerate(complete.split(b"\n") if complete else [], start=1):
            try:
                entry = json.loads(line)
            except ValueError as exc:
                raise StateFileError(f"{self.path}:{number}: not a JSON line ({exc})") from None
            if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
                raise StateFileError(f"{self.path}:{number}: expected an object with a 'kind'")
            entries.append(entry)
        return entries

    def append(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Write these entries at the end of the file, all in one system call."""
        data = b"".join(_line(entry) for entry in entries)
        if not data:
            return
        with self._lock:
            fd = self._open()
            written = os.write(fd, data)
            if written != len(data):  # only a full disk does this to a regular file
                raise OSError(f"{self.path}: wrote {written} of {len(data)} bytes")

    def rewrite(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Replace the whole file by these entries (atomically: a new file renamed over it)."""
        data = b"".join(_line(entry) for entry in entries)
        partial = self.path.with_name(self.path.name + ".new")
        with self._lock:
            self._close()
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(partial, self.path)

    def close(self) -> None:
        """Close the file; a later append opens it again."""
        with self._lock:
            self._close()

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return self._fd

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _line(entry: Mapping[str, Any]) -> bytes:
    # ensure_ascii keeps every line valid UTF-8 whatever the strings hold.
    return json.dumps(entry, separators=(",", ":"), sort_keys=True).encode("ascii") + b"\n"
