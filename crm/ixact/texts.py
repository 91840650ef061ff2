"""What a write-back says in IXACT Contact: an email's subject and its plain-text body.

IXACT's email capture keeps a message's subject and text in the contact's Contact History,
where an agent reads them, so both are plain sentences and short lines:

``post.tags_synced``
    Subject: ``GHL tags for "<title or post id>"``. Body::

        HighLevel (GHL) tags for the post "Open house".

        Post tags (1): Listing
        Location tags (2): Listing, Spring

        CRM post: crm-post-1
        GHL post: ghl-9
        Synced: 2026-11-23 10:00:05 UTC

    Without a GHL post the body says so, and lists the location's tags only.

``post.tag_details_attached``
    Subject: ``GHL tag details for "<title or post id>"``. Body: one line per tag with its
    id and the GHL fields that help (created, updated, by whom, deleted), then the ids GHL
    does not know, so a mistyped or deleted tag never looks like a tag without details.

``location.statistics_synced``
    Subject: ``GHL statistics <start> to <end>`` (ISO dates). Body: the profiles counted,
    the totals, then one line per platform. Numbers are written as GHL sent them (``508``,
    never ``508.0``).

The title: a write-back carries the CRM post's id, not its title, so the subject uses the
event's ``data.record.title`` when the event has one (an inbound mapping can put the post's
title there: ``record.title: {path: $.post.title}``), and the post id otherwise. Subjects
are one line of at most `SUBJECT_MAX` characters; a longer title is cut with "…" (the body
has it whole).

Whatever the body says (default or mapped), the connector ends it with the line
``socialbridge-id: <idempotency key>`` (`with_reference`), which names the write in the
contact's history. `written_tags` are the GHL tag names a write puts on its contact: what
the write ledger keeps for the Contact Groups export.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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

SUBJECT_MAX = 200
REFERENCE_PREFIX = "socialbridge-id: "
TITLE_KEY = "title"
"""The ``data.record`` key whose value names the post in subjects."""

_SPACES = re.compile(r"\s+")
# GHL tag fields worth a line in a contact's history, with the words that introduce them.
_TAG_FIELDS = (
    ("createdAt", "created"),
    ("createdBy", "created by"),
    ("updatedAt", "updated"),
)


@dataclass(frozen=True)
class EmailText:
    """The subject and text body of one email, before the reference line is added."""

    subject: str
    body: str


def default_text(value: WritebackData, record: Mapping[str, str]) -> EmailText:
    """The default subject and body of a loaded write-back; ``record`` is the event's."""
    if isinstance(value, TagsSynced):
        return _tags_synced(value, _post_name(value.post_id, record))
    if isinstance(value, TagDetailsAttached):
        return _tag_details(value, _post_name(value.post_id, record))
    return _statistics(value)


def written_tags(value: WritebackData) -> list[str]:
    """The GHL tag names this write files under its contact, each once, in GHL's order.

    The post's own tags when GHL knows the post (none is an answer too), the location's
    when it does not; the tags GHL returned for details; none for statistics.
    """
    if isinstance(value, TagsSynced):
        tags = value.post_tags if value.ghl_post_id else value.tags
        names = [tag.name for tag in tags]
    elif isinstance(value, TagDetailsAttached):
        names = [_tag_name(tag) for tag in value.tags]
    else:
        names = []
    return list(dict.fromkeys(name.strip() for name in names if name.strip()))


def one_line(text: str, limit: int = SUBJECT_MAX) -> str:
    """``text`` as one line (runs of spaces and line breaks made one space), cut with "…"."""
    line = _SPACES.sub(" ", text).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def reference_line(idempotency_key: str) -> str:
    return f"{REFERENCE_PREFIX}{idempotency_key}"


def with_reference(body: str, idempotency_key: str) -> str:
    """``body`` ending with the line that names the write."""
    return f"{body.rstrip()}\n\n{reference_line(idempotency_key)}\n"


# --- the three defaults -------------------------------------------------------------------


def _post_name(post_id: str, record: Mapping[str, str]) -> tuple[str, bool]:
    """What names the post in a subject, and whether it is a title (else the post id)."""
    title = one_line(str(record.get(TITLE_KEY) or ""), limit=10_000)
    return (title, True) if title else (post_id, False)


def _subject(words: str, name: str) -> str:
    # The quotes and the words around the name are kept whole; only the name is cut.
    room = SUBJECT_MAX - len(words) - len(' for ""')
    return f'{words} for "{one_line(name, limit=room)}"'


def _about(post: tuple[str, bool]) -> str:
    name, is_title = post
    return f'the post "{name}"' if is_title else f"the CRM post {name}"


def _tags_synced(value: TagsSynced, post: tuple[str, bool]) -> EmailText:
    lines = [f"HighLevel (GHL) tags for {_about(post)}.", ""]
    if value.ghl_post_id:
        lines.append(f"Post tags ({len(value.post_tags)}): {listed(_names(value.post_tags))}")
    else:
        lines.append("No GHL post is linked to this post yet, so only the location's tags show.")
    lines.append(f"Location tags ({len(value.tags)}): {listed(_names(value.tags))}")
    lines.extend(["", f"CRM post: {value.post_id}"])
    if value.ghl_post_id:
        lines.append(f"GHL post: {value.ghl_post_id}")
    lines.append(f"Synced: {when(value.synced_at)}")
    return EmailText(_subject("GHL tags", post[0]), "\n".join(lines))


def _tag_details(value: TagDetailsAttached, post: tuple[str, bool]) -> EmailText:
    lines = [f"HighLevel (GHL) tag details for {_about(post)}.", ""]
    lines.extend(_tag_detail(tag) for tag in value.tags)
    if not value.tags:
        lines.append("GHL returned none of the tags asked for.")
    if value.missing_tag_ids:
        lines.append(f"Not known to GHL: {', '.join(value.missing_tag_ids)}")
    lines.extend(["", f"CRM post: {value.post_id}", f"Synced: {when(value.synced_at)}"])
    return EmailText(_subject("GHL tag details", post[0]), "\n".join(lines))


def _statistics(value: StatisticsSynced) -> EmailText:
    start, end = value.start_date.isoformat(), value.end_date.isoformat()
    lines = [
        f"HighLevel (GHL) social media statistics, {start} to {end}.",
        "",
        f"Profiles counted: {len(value.profile_ids)}",
        f"Totals: {figures(value.totals)}",
    ]
    if value.platforms:
        lines.append("Per platform:")
        lines.extend(
            f"  {platform}: {figures(numbers)}" for platform, numbers in value.platforms.items()
        )
    lines.extend(["", f"GHL location: {value.location_id}", f"Synced: {when(value.synced_at)}"])
    return EmailText(f"GHL statistics {start} to {end}", "\n".join(lines))


def _names(tags: tuple[TagRef, ...]) -> list[str]:
    return [tag.name or f"(no name, id {tag.id})" for tag in tags]


def _tag_name(tag: Mapping[str, Any]) -> str:
    """A GHL tag object's name (``tag``; ``name`` also read)."""
    return str(tag.get("tag") or tag.get("name") or "")


def _tag_detail(tag: Mapping[str, Any]) -> str:
    tag_id = str(tag.get("_id") or tag.get("id") or "?")
    title = f"{_tag_name(tag) or '(no name)'} (id {tag_id})"
    facts = [f"{words} {plain(tag[key])}" for key, words in _TAG_FIELDS if tag.get(key) is not None]
    if tag.get("deleted") is True:
        facts.append("deleted in GHL")
    return f"{title}: {', '.join(facts)}" if facts else title
