"""What a write-back says in SmartOffice: a SmartPad's ``Keywords`` and ``Note``.

A SmartPad is a note in the contact's history, read by agents, so the defaults are plain
sentences and short lines, one fact a line:

``post.tags_synced``
    Keywords: the post's own tag names when GHL knows the post, else the location's.
    Note::

        GHL tags for CRM post crm-post-1 (GHL post ghl-9)
        Post tags: Listing [id t1], Open house [id t2]
        Location tags (3): Listing, Open house, Spring
        Synced 2026-11-23 10:00:05 UTC

``post.tag_details_attached``
    Keywords: the names of the tags GHL returned.
    Note: one line per tag with its id and the GHL fields that help (created, updated, by
    whom, deleted), then the ids GHL does not know, so a mistyped or deleted tag never looks
    like a tag without details.

``location.statistics_synced``
    Keywords: ``GHL statistics`` and the platforms reported.
    Note: the period, the profiles counted, the totals, then one line per platform. Numbers
    are written as GHL sent them (``508``, never ``508.0``).

Keywords are at most 255 characters (`KEYWORDS_MAX`): names are joined with ", " and the
list is cut before the first name that would not fit whole. Location tag lists longer than
`crm.texts.LISTED_MAX` names are shortened with "… and N more" to keep the history readable.

Whatever the Note says (default or mapped), the connector ends it with the marker line
``socialbridge-id: <idempotency key>`` (`with_marker`): it is how a write is found again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crm.texts import figures, listed, plain, when
from schemas.writebacks import (
    StatisticsSynced,
    TagDetailsAttached,
    TagRef,
    TagsSynced,
    WritebackData,
)

KEYWORDS_MAX = 255
KEYWORDS_SEPARATOR = ", "
MARKER_PREFIX = "socialbridge-id: "
STATISTICS_KEYWORD = "GHL statistics"

# GHL tag fields worth a line in a contact's history, with the words that introduce them.
_TAG_FIELDS = (
    ("createdAt", "created"),
    ("createdBy", "created by"),
    ("updatedAt", "updated"),
)


@dataclass(frozen=True)
class SmartPadText:
    """The two texts of one SmartPad, before the marker line is added."""

    keywords: str
    note: str


def default_text(value: WritebackData) -> SmartPadText:
    """The default Keywords and Note of a loaded write-back."""
    if isinstance(value, TagsSynced):
        return _tags_synced(value)
    if isinstance(value, TagDetailsAttached):
        return _tag_details(value)
    return _statistics(value)


def keywords_of(names: Iterable[str]) -> str:
    """``names`` joined by ", ", blank and repeated names left out, cut at a whole name.

    Never longer than `KEYWORDS_MAX`; a name that does not fit ends the list there (the
    names after it are dropped too, so the order of the list is kept).
    """
    kept: list[str] = []
    length = 0
    for raw in names:
        name = raw.strip()
        if not name or name in kept:
            continue
        added = len(name) + (len(KEYWORDS_SEPARATOR) if kept else 0)
        if length + added > KEYWORDS_MAX:
            break
        kept.append(name)
        length += added
    return KEYWORDS_SEPARATOR.join(kept)


def fit_keywords(text: str) -> str:
    """A Keywords text (e.g. a mapping's) within `KEYWORDS_MAX`, cut at a whole name.

    A text that fits is kept as it is; a longer one is read as a comma-separated list.
    """
    if len(text) <= KEYWORDS_MAX:
        return text
    return keywords_of(text.split(","))


def marker_line(idempotency_key: str) -> str:
    return f"{MARKER_PREFIX}{idempotency_key}"


def with_marker(note: str, idempotency_key: str) -> str:
    """``note`` ending with the marker line of the write."""
    return f"{note.rstrip()}\n{marker_line(idempotency_key)}"


def holds_marker(note: str, idempotency_key: str) -> bool:
    """Whether ``note`` holds this write's marker itself, not one that merely starts with it.

    SmartOffice's ``contains`` may ignore case or read ``_`` as a wildcard, and the key of
    ``evt_1`` is a prefix of the key of ``evt_12``'s: a marker counts only when what follows
    it cannot continue a key (the end, a space or line break, or markup).
    """
    marker = marker_line(idempotency_key)
    start = note.find(marker)
    while start != -1:
        end = start + len(marker)
        if end == len(note) or not _continues_key(note[end]):
            return True
        start = note.find(marker, start + 1)
    return False


def _continues_key(char: str) -> bool:
    return not char.isspace() and char not in "<&"


# --- the three defaults -------------------------------------------------------------------


def _tags_synced(value: TagsSynced) -> SmartPadText:
    ghl_post = f"GHL post {value.ghl_post_id}" if value.ghl_post_id else "no GHL post linked"
    lines = [f"GHL tags for CRM post {value.post_id} ({ghl_post})"]
    if value.ghl_post_id:
        post_tags = ", ".join(_tag_ref(tag) for tag in value.post_tags) or "none"
        lines.append(f"Post tags: {post_tags}")
    lines.append(f"Location tags ({len(value.tags)}): {listed([tag.name for tag in value.tags])}")
    lines.append(f"Synced {when(value.synced_at)}")
    named = value.post_tags or value.tags
    return SmartPadText(keywords_of(tag.name for tag in named), "\n".join(lines))


def _tag_details(value: TagDetailsAttached) -> SmartPadText:
    lines = [f"GHL tag details for CRM post {value.post_id}"]
    names = []
    for tag in value.tags:
        name, line = _tag_detail(tag)
        if name:
            names.append(name)
        lines.append(line)
    if not value.tags:
        lines.append("GHL returned none of the tags asked for.")
    if value.missing_tag_ids:
        lines.append(f"Not known to GHL: {', '.join(value.missing_tag_ids)}")
    lines.append(f"Synced {when(value.synced_at)}")
    return SmartPadText(keywords_of(names), "\n".join(lines))


def _statistics(value: StatisticsSynced) -> SmartPadText:
    lines = [
        f"GHL statistics for location {value.location_id}, "
        f"{value.start_date.isoformat()} to {value.end_date.isoformat()}",
        f"Profiles: {len(value.profile_ids)}",
        f"Totals: {figures(value.totals)}",
    ]
    lines.extend(f"{platform}: {figures(numbers)}" for platform, numbers in value.platforms.items())
    lines.append(f"Synced {when(value.synced_at)}")
    keywords = keywords_of([STATISTICS_KEYWORD, *value.platforms])
    return SmartPadText(keywords, "\n".join(lines))


def _tag_ref(tag: TagRef) -> str:
    return f"{tag.name or '(no name)'} [id {tag.id}]"


def _tag_detail(tag: Mapping[str, Any]) -> tuple[str, str]:
    """A GHL tag object (``_id``, ``tag``, …; ``id``/``name`` also read): its name and line."""
    name = str(tag.get("tag") or tag.get("name") or "")
    tag_id = str(tag.get("_id") or tag.get("id") or "?")
    title = f"{name or '(no name)'} [id {tag_id}]"
    facts = [f"{words} {plain(tag[key])}" for key, words in _TAG_FIELDS if tag.get(key) is not None]
    if tag.get("deleted") is True:
        facts.append("deleted in GHL")
    line = f"{title}: {', '.join(facts)}" if facts else title
    return name, line
