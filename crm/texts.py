"""Pieces of the readable texts connectors write into a CRM's history (notes, emails).

Shared by the connectors that turn a write-back into words for a person (SmartOffice's
SmartPad note, IXACT Contact's email body), so that both say the same thing the same way.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

LISTED_MAX = 100
"""Names listed before "… and N more": a location's 250 tags make a poor note."""


def listed(names: list[str]) -> str:
    """The names comma-separated, at most `LISTED_MAX` of them; "none" for none."""
    if not names:
        return "none"
    shown = ", ".join(names[:LISTED_MAX])
    hidden = len(names) - LISTED_MAX
    return f"{shown}, … and {hidden} more" if hidden > 0 else shown


def figures(values: Mapping[str, Any]) -> str:
    """``name value`` pairs, comma-separated ("comments 492, likes 2674"); "none" for none."""
    return ", ".join(f"{name} {plain(number)}" for name, number in values.items()) or "none"


def plain(value: Any) -> str:
    """A value as it came: strings as they are, numbers as JSON writes them (508, 0.25)."""
    return value if isinstance(value, str) else json.dumps(value)


def when(value: dt.datetime) -> str:
    """A moment in UTC, for people: ``2026-12-01 03:29:04 UTC``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
