"""The subject and plain-text body of each write-back type, as an agent reads them in IXACT."""

from __future__ import annotations

from typing import Any

from crm.connector import WriteBack
from crm.ixact.texts import (
    SUBJECT_MAX,
    EmailText,
    default_text,
    one_line,
    with_reference,
    written_tags,
)
from crm.texts import LISTED_MAX
from schemas.writebacks import WRITEBACK_SCHEMAS, WritebackData
from tests.unit.crm.ixact.samples import statistics, tag_details, tags_synced


def loaded(writeback: WriteBack) -> WritebackData:
    value: WritebackData = WRITEBACK_SCHEMAS[writeback.type].load(writeback.data)
    return value


def text_of(writeback: WriteBack) -> EmailText:
    return default_text(loaded(writeback), writeback.record)


def test_tags_synced_names_the_post_by_its_title_from_the_record() -> None:
    text = text_of(tags_synced(title="Open house"))

    assert text.subject == 'GHL tags for "Open house"'
    assert text.body == (
        'HighLevel (GHL) tags for the post "Open house".\n'
        "\n"
        "Post tags (1): Listing\n"
        "Location tags (2): Listing, Spring\n"
        "\n"
        "CRM post: crm-post-1\n"
        "GHL post: ghl-9\n"
        "Synced: 2026-11-23 10:00:05 UTC"
    )


def test_without_a_title_the_post_id_names_the_post() -> None:
    text = text_of(tags_synced())

    assert text.subject == 'GHL tags for "crm-post-1"'
    assert text.body.startswith("HighLevel (GHL) tags for the CRM post crm-post-1.\n")


def test_a_blank_title_counts_as_none() -> None:
    assert text_of(tags_synced(title="  \n ")).subject == 'GHL tags for "crm-post-1"'


def test_without_a_ghl_post_only_the_location_tags_show_and_the_body_says_why() -> None:
    text = text_of(tags_synced(ghl_post_id=None, post_tags=[]))

    assert "Post tags" not in text.body
    assert "No GHL post is linked to this post yet" in text.body
    assert "Location tags (2): Listing, Spring" in text.body
    assert "GHL post:" not in text.body


def test_a_title_on_several_lines_becomes_one_line_and_a_long_one_is_cut() -> None:
    several = text_of(tags_synced(title="Open\r\nhouse\t now"))
    assert several.subject == 'GHL tags for "Open house now"'

    subject = text_of(tags_synced(title="Maison " * 100)).subject

    assert len(subject) == SUBJECT_MAX
    assert subject.startswith('GHL tags for "Maison Maison')
    assert subject.endswith('…"')


def test_a_long_tag_list_is_shortened() -> None:
    tags = [{"id": f"t{n}", "name": f"tag {n}"} for n in range(LISTED_MAX + 5)]
    body = text_of(tags_synced(ghl_post_id=None, post_tags=[], tags=tags)).body

    assert f"Location tags ({LISTED_MAX + 5}): tag 0, tag 1," in body
    assert f"tag {LISTED_MAX - 1}, … and 5 more" in body
    assert f"tag {LISTED_MAX}," not in body


def test_tag_details_one_line_per_tag_then_the_unknown_ids() -> None:
    text = text_of(tag_details())

    assert text.subject == 'GHL tag details for "crm-post-1"'
    assert text.body == (
        "HighLevel (GHL) tag details for the CRM post crm-post-1.\n"
        "\n"
        "Listing (id t1): created 2026-01-02T03:04:05Z, created by user-7\n"
        "Spring (id t2): deleted in GHL\n"
        "Not known to GHL: t9\n"
        "\n"
        "CRM post: crm-post-1\n"
        "Synced: 2026-11-23 10:00:05 UTC"
    )


def test_tag_details_when_ghl_knows_none_of_the_tags() -> None:
    body = text_of(tag_details(tags=[], missing_tag_ids=["t1", "t2", "t9"])).body

    assert "GHL returned none of the tags asked for." in body
    assert "Not known to GHL: t1, t2, t9" in body


def test_statistics_subject_has_the_iso_dates_and_the_body_the_totals_per_platform() -> None:
    text = text_of(statistics())

    assert text.subject == "GHL statistics 2026-11-16 to 2026-11-22"
    assert text.body == (
        "HighLevel (GHL) social media statistics, 2026-11-16 to 2026-11-22.\n"
        "\n"
        "Profiles counted: 2\n"
        "Totals: posts 3, likes 508\n"
        "Per platform:\n"
        "  facebook: posts 2, likes 500\n"
        "  instagram: posts 1\n"
        "\n"
        "GHL location: loc-1\n"
        "Synced: 2026-11-23 10:00:05 UTC"
    )


def test_numbers_are_written_as_ghl_sent_them() -> None:
    writeback = statistics()
    data: dict[str, Any] = {**writeback.data, "totals": {"rate": 0.25, "likes": 508}}
    body = text_of(WriteBack(writeback.type, writeback.idempotency_key, data)).body

    assert "Totals: rate 0.25, likes 508" in body


def test_written_tags_are_the_post_tags_when_ghl_knows_the_post() -> None:
    assert written_tags(loaded(tags_synced())) == ["Listing"]
    # GHL knows the post and it has no tags: that is the answer, not the location's tags.
    assert written_tags(loaded(tags_synced(post_tags=[]))) == []


def test_written_tags_are_the_location_tags_without_a_ghl_post() -> None:
    value = loaded(tags_synced(ghl_post_id=None, post_tags=[]))
    assert written_tags(value) == ["Listing", "Spring"]


def test_written_tags_of_details_are_the_tags_ghl_returned_each_once() -> None:
    details = tag_details(
        tags=[
            {"_id": "t1", "tag": "Listing"},
            {"_id": "t3", "tag": " Listing "},
            {"_id": "t4", "name": "Spring"},
            {"_id": "t5"},
        ],
        missing_tag_ids=[],
    )
    assert written_tags(loaded(details)) == ["Listing", "Spring"]


def test_statistics_write_no_tags() -> None:
    assert written_tags(loaded(statistics())) == []


def test_one_line_and_the_reference() -> None:
    assert one_line("  a\n\n b\tc ") == "a b c"
    assert one_line("abcdef", limit=4) == "abc…"
    assert with_reference("Body\n\n", "evt_1.post.tags_synced") == (
        "Body\n\nsocialbridge-id: evt_1.post.tags_synced\n"
    )
