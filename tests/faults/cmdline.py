"""What the command lines of `make chaos` and `make fuzz` share: option types and ``--keep``.

parser.add_argument("--events", type=whole_number, default=300)
parser.add_argument("--duration", type=seconds, default=60.0)
print(f"logs kept in {keep_logs(workdir, 'socialbridge-chaos-kept-')}")
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

MAX_SECONDS = 3600.0
LOG_SUFFIX = ".log"


def whole_number(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def seconds(text: str) -> float:
    """An argparse type: seconds, more than 0 and less than an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"expected seconds between 0 and {MAX_SECONDS:g}, got {text}"
        )
    return value


def keep_logs(workdir: Path, prefix: str) -> Path:
    """Copy every log under ``workdir`` (the processes', Redis's) to a new temporary folder
    that outlives the run, keeping their relative paths; return that folder."""
    kept = Path(tempfile.mkdtemp(prefix=prefix))
    for path in sorted(workdir.rglob(f"*{LOG_SUFFIX}")):
        target = kept / path.relative_to(workdir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return kept
