"""`console.mappings`: check, show, preview, save, history and roll back, on a real store and
the sandbox GHL (in process, through `httpx.WSGITransport`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from console import mappings
from mappings import MappingInvalid
from sandbox.ghl import DEFAULT_LOCATION, DEFAULT_TOKEN, create_sandbox_ghl_app
from socialbridge.config import Settings
from store import ConnectionRecord, NotFound, Store
from tests.dbutil import Database
from workers.services import Services

VALID = """\
version: 1
inbound:
  type: {path: $.action, map: {published: post.published}}
  id: $.request_id
  fields:
    post_id: $.post.id
    ghl_post_id: $.post.ghl_id
    record.contact_id: $.contact.id
"""
# Line 6 names a field no event has, line 7 gives a flag a word.
INVALID = """\
version: 1
inbound:
  type: {path: $.action, map: {published: post.published}}
  fields:
    post_id: $.post.id
    post_idd: $.post.id
    title: {path: $.post.title, strip: yes}
"""
BODY = {
    "action": "published",
    "request_id": "r-1",
    "post": {"id": "crm-1", "ghl_id": "post_demo_1"},
    "contact": {"id": "C.1.2"},
}


@pytest.fixture
def connection(store: Store) -> ConnectionRecord:
    return store.create_connection(
        name="acme",
        location_id=DEFAULT_LOCATION,
        ghl_token=DEFAULT_TOKEN,
        crm_url="http://crm.sandbox/hooks/acme",
        inbound_auth="token",
    )


@pytest.fixture
def services(store: Store, migrated_database: Database) -> Iterator[Services]:
    settings = Settings.from_mapping(
        {
            "database_url": migrated_database[0],
            "secret_key": "unit-test-secret-key",
            "ghl_base_url": "http://ghl.sandbox",
            "tag_cache_ttl": 0,
        }
    )
    ghl = httpx.WSGITransport(app=create_sandbox_ghl_app(rate_limit=10_000))
    built = Services(settings, store=store, ghl_transport=ghl)
    yield built
    built.dispose()  # its GHL clients; the store's fixture disposes the store again, harmlessly


def test_a_valid_text_gives_its_summary() -> None:
    checked = mappings.check_text(VALID, "webhook")

    assert checked.valid
    assert checked.problems == []
    assert checked.summary is not None
    assert checked.summary["inbound"]["fields"]["post_id"] == "$.post.id"


def test_an_invalid_text_gives_every_problem_at_its_line() -> None:
    checked = mappings.check_text(INVALID)

    assert not checked.valid
    assert checked.summary is None
    assert [(p.line, p.field) for p in checked.problems] == [
        (6, "inbound.fields.post_idd"),
        (7, "inbound.fields.title.strip"),
    ]
    assert mappings.problem_views(checked.problems)[0]["line"] == 6


def test_outbound_fields_are_checked_for_the_kind() -> None:
    text = VALID + "outbound:\n  post.tags_synced:\n    Notes: {value: x}\n"

    checked = mappings.check_text(text, "smartoffice")

    [problem] = checked.problems
    assert (problem.line, problem.field) == (11, "outbound.post.tags_synced.Notes")


def test_show_checks_the_stored_text_again(store: Store, connection: ConnectionRecord) -> None:
    assert mappings.show(connection).checked is None

    store.save_mapping(connection.id, VALID)
    current = mappings.show(_fresh(store, connection))

    assert current.text == VALID
    assert current.checked is not None
    assert current.checked.valid


def test_save_keeps_valid_versions_only(store: Store, connection: ConnectionRecord) -> None:
    first = mappings.save(store, connection, VALID, author="ann@example.com")
    with pytest.raises(MappingInvalid) as refused:
        mappings.save(store, connection, INVALID, author="ann@example.com")

    assert first.number == 1
    assert [p.line for p in refused.value.problems] == [6, 7]
    assert _fresh(store, connection).mapping == VALID
    assert [v.number for v in mappings.history(store, connection.id)] == [1]


def test_roll_back_adds_a_version_equal_to_the_old_one(
    store: Store, connection: ConnectionRecord
) -> None:
    other = VALID.replace("$.request_id", "$.delivery")
    mappings.save(store, connection, VALID)
    mappings.save(store, connection, other)

    restored = mappings.roll_back(store, connection, 1, author="ann@example.com")

    assert (restored.number, restored.restored_from, restored.text) == (3, 1, VALID)
    assert restored.author == "ann@example.com"
    assert _fresh(store, connection).mapping == VALID
    assert [v.number for v in mappings.history(store, connection.id)] == [3, 2, 1]


def test_roll_back_to_a_version_that_does_not_exist(
    store: Store, connection: ConnectionRecord
) -> None:
    with pytest.raises(NotFound, match="no mapping version 4"):
        mappings.roll_back(store, connection, 4)


def test_roll_back_refuses_a_version_this_release_no_longer_reads(
    store: Store, connection: ConnectionRecord
) -> None:
    # Stored directly: the store guards the column only, as a mapping from an older release.
    store.save_mapping(connection.id, INVALID)

    with pytest.raises(MappingInvalid):
        mappings.roll_back(store, connection, 1)

    assert [v.number for v in mappings.history(store, connection.id)] == [1]


def test_preview_of_a_pasted_text_shows_the_event_and_the_write_sending_nothing(
    store: Store, connection: ConnectionRecord, services: Services
) -> None:
    result = mappings.preview(services, connection, VALID, BODY)

    assert result.ok
    assert result.result is not None
    view = mappings.preview_view(result.result)
    assert view["event"]["data"] == {
        "post_id": "crm-1",
        "ghl_post_id": "post_demo_1",
        "record": {"contact_id": "C.1.2"},
    }
    [write] = view["writes"]
    assert write["type"] == "post.tags_synced"
    assert write["requests"][0]["url"] == "http://crm.sandbox/hooks/acme"
    # The pasted text was only tried: the connection has no mapping, and no event was kept.
    assert _fresh(store, connection).mapping is None
    assert store.list_events() == []


def test_preview_of_an_invalid_text_runs_nothing(
    connection: ConnectionRecord, services: Services
) -> None:
    result = mappings.preview(services, connection, INVALID, BODY)

    assert not result.ok
    assert result.result is None
    assert [p.line for p in result.problems] == [6, 7]


def test_preview_of_a_body_that_makes_no_event_gives_the_receivers_errors(
    connection: ConnectionRecord, services: Services
) -> None:
    result = mappings.preview(services, connection, VALID, {"action": "published"})

    assert not result.ok
    assert result.result is not None
    assert result.result.event is None
    assert "data.post_id" in result.result.errors


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "not JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
        (b"\xff", "not UTF-8 (byte 0)"),
        (b" " * (mappings.BODY_MAX_BYTES + 1), "larger than"),
    ],
)
def test_a_body_that_cannot_be_read_says_why(raw: str | bytes, message: str) -> None:
    with pytest.raises(
        mappings.BodyUnreadable, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        mappings.read_body(raw)


def test_a_body_is_read_as_json() -> None:
    assert mappings.read_body('{"a": [1, 2]}') == {"a": [1, 2]}


def _fresh(store: Store, connection: ConnectionRecord) -> ConnectionRecord:
    found = store.get_connection(connection.id)
    assert found is not None
    return found
