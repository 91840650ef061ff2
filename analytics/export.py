"""CSV exports, written with the csv module."""

from __future__ import annotations

import csv
import io

from analytics.tags import TagSegment

SEGMENT_COLUMNS = ("crm_post_id", "ghl_post_id", "title", "published_at", "tags")
TAG_SEPARATOR = "; "
# A cell starting with one of these is run as a formula by spreadsheet programs; a leading
# apostrophe makes them show it as text (OWASP's advice on CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def segment_csv(segment: TagSegment) -> str:
    """The segment's posts as CSV text: a header, then one row per post, newest first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SEGMENT_COLUMNS)
    for post in segment.posts:
        writer.writerow(
            [
                _cell(post.crm_post_id),
                _cell(post.ghl_post_id or ""),
                _cell(post.title or ""),
                post.posted_at.isoformat(),
                _cell(TAG_SEPARATOR.join(post.tags)),
            ]
        )
    return out.getvalue()


def segment_filename(segment: TagSegment) -> str:
    """A file name for the download: the tag's id kept to safe characters."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in segment.tag_id)[:80]
    return f"segment-{safe or 'tag'}.csv"


def _cell(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text
