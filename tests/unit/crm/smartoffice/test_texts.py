"""The default Keywords and Note of each write-back type, and the marker line."""

from __future__ import annotations

from typing import Any

import pytest

from crm.smartoffice.texts import (
    KEYWORDS_MAX,
    default_text,
    fit_keywords,
    holds_marker,
    keywords_of,
    with_marker,
)
from crm.texts import LISTED_MAX
from schemas.writebacks import WRITEBACK_SCHEMAS


def loaded(type_: str, data: dict[str, Any]) -> Any:
    return WRITEBACK_SCHEMAS[type_].load(data)


def tags_synced(**changes: Any) -> Any:
    data = {
        "post_id": "crm-post-1",
        "location_id": "loc-1",
        "ghl_post_id": "ghl-9",
        "tags": [
            {"id": "t1", "name": "Listing"},
            {"id": "t2", "name": "Open house"},
            {"id": "t3", "name": "Spring"},
        ],
        "post_tags": [{"id": "t1", "name": "Listing"}, {"id": "t2", "name": "Open house"}],
        "synced_at": "2026-11-23T10:00:05Z",
    }
    return loaded("post.tags_synced", {**data, **changes})


def test_tags_synced_note_reads_as_a_history_entry() -> None:
    text = default_text(tags_synced())

    assert text.keywords == "Listing, Open house"
    assert text.note == (
        "GHL tags for CRM post crm-post-1 (GHL post ghl-9)\n"
        "Post tags: Listing [id t1], Open house [id t2]\n"
        "Location tags (3): Listing, Open house, Spring\n"
        "Synced 2026-11-23 10:00:05 UTC"
    )


def test_tags_synced_without_a_ghl_post_names_the_location_tags() -> None:
    text = default_text(tags_synced(ghl_post_id=None, post_tags=[]))

    assert text.keywords == "Listing, Open house, Spring"
    assert text.note.splitlines()[0] == "GHL tags for CRM post crm-post-1 (no GHL post linked)"
    assert not any(line.startswith("Post tags") for line in text.note.splitlines())


def test_a_known_post_without_tags_says_so() -> None:
    text = default_text(tags_synced(post_tags=[]))

    assert "Post tags: none" in text.note.splitlines()
    assert text.keywords == "Listing, Open house, Spring"


def test_a_long_location_tag_list_is_shortened() -> None:
    tags = [{"id": f"t{n}", "name": f"Tag {n}"} for n in range(LISTED_MAX + 5)]
    note = default_text(tags_synced(tags=tags, ghl_post_id=None, post_tags=[])).note

    [line] = [line for line in note.splitlines() if line.startswith("Location tags")]
    assert line.startswith(f"Location tags ({LISTED_MAX + 5}): Tag 0, Tag 1,")
    assert line.endswith(f"Tag {LISTED_MAX - 1}, … and 5 more")


def test_tag_details_note_has_each_tag_and_the_missing_ids() -> None:
    value = loaded(
        "post.tag_details_attached",
        {
            "post_id": "crm-post-1",
            "location_id": "loc-1",
            "tag_ids": ["t1", "t2", "t9"],
            "tags": [
                {
                    "_id": "t1",
                    "tag": "Listing",
                    "locationId": "loc-1",
                    "createdBy": "user-4",
                    "createdAt": "2023-08-02T00:00:00.000Z",
                    "deleted": False,
                },
                {"_id": "t2", "tag": "Old", "deleted": True},
            ],
            "missing_tag_ids": ["t9"],
            "synced_at": "2026-11-23T10:00:05Z",
        },
    )

    text = default_text(value)

    assert text.keywords == "Listing, Old"
    assert text.note == (
        "GHL tag details for CRM post crm-post-1\n"
        "Listing [id t1]: created 2023-08-02T00:00:00.000Z, created by user-4\n"
        "Old [id t2]: deleted in GHL\n"
        "Not known to GHL: t9\n"
        "Synced 2026-11-23 10:00:05 UTC"
    )


def test_tag_details_when_ghl_knew_none_of_the_tags() -> None:
    value = loaded(
        "post.tag_details_attached",
        {
            "post_id": "p",
            "location_id": "l",
            "tag_ids": ["t9"],
            "tags": [],
            "missing_tag_ids": ["t9"],
            "synced_at": "2026-11-23T10:00:05Z",
        },
    )

    text = default_text(value)

    assert text.keywords == ""
    assert "GHL returned none of the tags asked for." in text.note
    assert "Not known to GHL: t9" in text.note


def test_statistics_note_has_period_totals_and_platforms_numbers_as_sent() -> None:
    value = loaded(
        "location.statistics_synced",
        {
            "location_id": "loc-1",
            "start_date": "2026-11-16",
            "end_date": "2026-11-22",
            "profile_ids": ["p1", "p2"],
            "totals": {"posts": 12, "likes": 508, "engagementRate": 0.25},
            "platforms": {"facebook": {"posts": 7, "likes": 300}, "instagram": {"posts": 5}},
            "daily": {"day_range": ["2026-11-16"], "posts": [1]},
            "synced_at": "2026-11-23T10:00:05Z",
        },
    )

    text = default_text(value)

    assert text.keywords == "GHL statistics, facebook, instagram"
    assert text.note == (
        "GHL statistics for location loc-1, 2026-11-16 to 2026-11-22\n"
        "Profiles: 2\n"
        "Totals: posts 12, likes 508, engagementRate 0.25\n"
        "facebook: posts 7, likes 300\n"
        "instagram: posts 5\n"
        "Synced 2026-11-23 10:00:05 UTC"
    )


def test_keywords_are_cut_at_a_whole_name() -> None:
    names = [f"name-{n:03d}" for n in range(40)]  # 8 characters each, 10 with the separator

    keywords = keywords_of(names)

    assert len(keywords) <= KEYWORDS_MAX
    assert keywords == ", ".join(names[:25])  # 25 * 10 - 2 = 248; a 26th makes 258
    assert keywords.split(", ") == names[:25]


def test_keywords_that_fit_exactly_are_kept() -> None:
    names = ["a" * 100, "b" * 100, "c" * 51]  # 100 + 2 + 100 + 2 + 51 = 255

    assert keywords_of(names) == ", ".join(names)


def test_a_name_too_long_to_fit_ends_the_list() -> None:
    assert keywords_of(["Short", "x" * 300, "After"]) == "Short"
    assert keywords_of(["x" * 300]) == ""


def test_keywords_leave_out_blank_and_repeated_names() -> None:
    assert keywords_of([" Listing ", "", "Listing", "Spring"]) == "Listing, Spring"


def test_a_keywords_text_that_fits_is_kept_as_it_is() -> None:
    assert fit_keywords("a,b;  c") == "a,b;  c"


def test_a_long_keywords_text_is_cut_at_a_comma() -> None:
    text = ",".join(f"word{n:02d}" for n in range(60))  # 6 characters a name

    fitted = fit_keywords(text)

    assert len(fitted) <= KEYWORDS_MAX
    assert fitted.split(", ") == [f"word{n:02d}" for n in range(32)]  # 32 * 8 - 2 = 254


def test_the_marker_ends_the_note() -> None:
    assert with_marker("Line\n\n", "evt_1.post.tags_synced") == (
        "Line\nsocialbridge-id: evt_1.post.tags_synced"
    )


@pytest.mark.parametrize(
    ("note", "found"),
    [
        ("Line\nsocialbridge-id: evt_1.post.tags_synced", True),
        ("Line\nsocialbridge-id: evt_1.post.tags_synced\n", True),
        ("<p>socialbridge-id: evt_1.post.tags_synced</p>", True),
        ("socialbridge-id: evt_1.post.tags_synced.r2", False),
        ("Line\nsocialbridge-id: evt_12.post.tags_synced", False),
        ("socialbridge-id: evt_1.post.tags_syncedX\nsocialbridge-id: evt_1.post.tags_synced", True),
        ("nothing here", False),
    ],
)
def test_holds_marker_needs_the_whole_key(note: str, found: bool) -> None:
    assert holds_marker(note, "evt_1.post.tags_synced") is found
