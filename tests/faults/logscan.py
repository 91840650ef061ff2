"""What the processes' logs say went wrong: errors and exceptions, counted by kind.

    summary = scan_log(worker.log_text())
    summary.crashes      # lines that mean a process or a pool process died

Lines look like `socialbridge.logs.TextFormatter` writes them (Celery's own lines included:
the worker does not take over the root logger): ``2026-11-23 10:00:00,123 ERROR   message``.
Numbers are blanked out of a message when counting, so a thousand "pid:1234 exited" lines of
different pids count as one kind.
"""

from __future__ import annotations

import re
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d+ (ERROR|CRITICAL)\s+(.*)$")
_NUMBER = re.compile(r"\d+")
_KEPT = 160

CRASH_MARKERS = (
    "Unrecoverable error",
    "WorkerLostError",
    "exited with 'signal",
    "exited with 'exitcode",
    "Segmentation fault",
)
"""Words that mean a worker, or one of its pool processes, died."""


@dataclass
class LogSummary:
    """Error and critical lines by kind, exceptions by their last line, and crash lines."""

    errors: Counter[str] = field(default_factory=Counter)
    exceptions: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)

    def merge(self, other: LogSummary) -> None:
        self.errors.update(other.errors)
        self.exceptions.update(other.exceptions)
        self.crashes.extend(other.crashes)


def kind_of(message: str) -> str:
    """A message with its numbers blanked and cut short: what counts lines of one kind."""
    return _NUMBER.sub("N", message.strip())[:_KEPT]


def scan_log(text: str) -> LogSummary:
    """Count the error lines, tracebacks and crash lines of one log."""
    summary = LogSummary()
    in_traceback = False
    for line in text.splitlines():
        if in_traceback:
            # A traceback ends at its first line that is not indented: the exception.
            if line and not line[0].isspace():
                summary.exceptions[kind_of(line)] += 1
                in_traceback = False
            continue
        if "Traceback (most recent call last)" in line:
            in_traceback = True
            continue
        if any(marker in line for marker in CRASH_MARKERS):
            summary.crashes.append(line.strip()[: _KEPT * 2])
        match = _LINE.match(line)
        if match is not None:
            summary.errors[f"{match.group(1)} {kind_of(match.group(2))}"] += 1
    return summary


def format_summary(summary: LogSummary, limit: int = 12) -> list[str]:
    """Report lines: the most frequent error kinds and exceptions, with their counts."""
    lines = [f"{count:>6} x {kind}" for kind, count in summary.errors.most_common(limit)]
    lines += [
        f"{count:>6} x exception {kind}" for kind, count in summary.exceptions.most_common(limit)
    ]
    return lines


def where(exc: BaseException) -> str:
    """The exception and the line of ours it came through last, for a one-line report."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if "site-packages" not in f.filename
    ]
    place = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{exc!r}{place}"
