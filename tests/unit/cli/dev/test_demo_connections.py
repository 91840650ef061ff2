"""The three demo connections of `make run`, the shipped SmartOffice and IXACT mappings and the
bodies `demo send` makes for them."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.dev import demo_connections
from cli.dev.demo_connections import (
    DEMO_GHL_TOKEN,
    DEMO_IXACT_SENDER,
    DEMO_LOCATION_ID,
    SANDBOX_OFFICE,
    SANDBOX_PASSWORD,
    SANDBOX_SMTP_PASSWORD,
    SANDBOX_SMTP_USER,
    SANDBOX_USER,
    DemoConnection,
    DemoConnectionError,
    demo_crm_url,
    demo_ixact_settings,
    demo_ixact_smtp_url,
    demo_smartoffice_settings,
    demo_smartoffice_url,
    ensure_demo_connection,
    ensure_demo_ixact_connection,
    ensure_demo_smartoffice_connection,
    register_demo_account,
)
from console.demo import (
    DEMO_IXACT_CONTACT_EMAIL,
    DEMO_IXACT_FIRST_NAME,
    DEMO_IXACT_LAST_NAME,
    DEMO_IXACT_MAPPING,
    DEMO_SMARTOFFICE_MAPPING,
    IXACT_ACTIONS,
    SMARTOFFICE_ACTIONS,
    demo_ixact_body,
    demo_ixact_mapping,
    demo_smartoffice_body,
    demo_smartoffice_mapping,
)
from crm.connector import LedgerEntry, WriteBack
from crm.ixact.settings import NOTES_ADDRESS
from crm.registry import build_connector, connector_kind, load_settings
from mappings import ConnectionMapping, evaluate_fields, load_mapping, map_inbound
from sandbox.mail.state import DEMO_SMTP_PASSWORD, DEMO_SMTP_USER
from sandbox.smartoffice.state import DEMO_CONTACT_ID, DEMO_OFFICE, DEMO_PASSWORD, DEMO_USER
from schemas.events import (
    EVENT_TYPES,
    POST_PUBLISHED,
    StatisticsRequested,
    TagDetailsRequested,
    load_event,
)
from socialbridge.config import Settings
from store import Store, migrate

SECRET_KEY = "s" * 43
RECEIVED_AT = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
SMARTOFFICE_URL = "http://127.0.0.1:8030/xml"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="module")
def shipped() -> ConnectionMapping:
    """The shipped mapping, loaded as the receiver and the connector load it."""
    outbound_fields = connector_kind("smartoffice").capabilities.outbound_fields
    return load_mapping(demo_smartoffice_mapping(), outbound_fields=outbound_fields)


def body(event_type: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "contact_id": DEMO_CONTACT_ID,
        "post_id": "crm-post-1",
        "ghl_post_id": "post_demo_1",
        "tag_ids": ("t1", "t2"),
        "title": "Open house this Saturday",
    }
    values.update(overrides)
    return demo_smartoffice_body(event_type, **values)


# --- demo: the webhook CRM ---------------------------------------------------------------


def test_demo_connection_is_created_once_then_reused(database_url: str) -> None:
    crm_url = demo_crm_url("http://127.0.0.1:8120")

    first = ensure_demo_connection(database_url, SECRET_KEY, crm_url)
    second = ensure_demo_connection(database_url, SECRET_KEY, crm_url)

    assert first.created
    assert not second.created
    assert second.id == first.id
    assert second.crm_secret == first.crm_secret
    assert first.crm_secret.startswith("whsec_")
    assert first.crm_url == "http://127.0.0.1:8120/hooks/demo"
    assert (first.name, first.crm_kind) == ("demo", "webhook")


def test_demo_connection_under_another_secret_key_says_what_to_do(database_url: str) -> None:
    ensure_demo_connection(database_url, SECRET_KEY, "http://127.0.0.1:8020/hooks/demo")

    with pytest.raises(DemoConnectionError, match="delete var/"):
        ensure_demo_connection(database_url, "t" * 43, "http://127.0.0.1:8020/hooks/demo")


def test_register_demo_account_explains_a_refusal() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"errors": {"secret": ["bad"]}})

    with (
        httpx.Client(transport=httpx.MockTransport(refuse)) as http,
        pytest.raises(DemoConnectionError, match="refused the demo account \\(422\\)"),
    ):
        register_demo_account(http, "http://crm.test", "whsec_bad")


def test_register_demo_account_names_a_sandbox_that_does_not_answer() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        httpx.Client(transport=httpx.MockTransport(unreachable)) as http,
        pytest.raises(
            DemoConnectionError, match=re.escape("did not answer http://crm.test/_sandbox/accounts")
        ),
    ):
        register_demo_account(http, "http://crm.test", "whsec_x")


# --- demo-smartoffice ----------------------------------------------------------------------


def test_demo_smartoffice_is_created_with_the_sandbox_login_a_token_and_the_mapping(
    database_url: str,
) -> None:
    made = ensure_demo_smartoffice_connection(
        database_url, SECRET_KEY, demo_smartoffice_url("http://127.0.0.1:8030")
    )

    assert made.created
    assert (made.name, made.crm_kind, made.crm_url) == (
        "demo-smartoffice",
        "smartoffice",
        SMARTOFFICE_URL,
    )
    assert made.shipped_mapping
    assert made.drift(SMARTOFFICE_URL, "this run's SmartOffice sandbox") == []
    store = Store(database_url, SECRET_KEY)
    try:
        record = store.find_connection("demo-smartoffice")
        demo = store.find_connection("demo")
    finally:
        store.dispose()
    assert record is not None
    assert demo is None  # each demo connection is made by its own function
    assert record.id == made.id
    assert (record.location_id, record.ghl_token) == (DEMO_LOCATION_ID, DEMO_GHL_TOKEN)
    assert dict(record.crm_settings) == {
        "auth": "direct",
        "office": DEMO_OFFICE,
        "user": DEMO_USER,
        "password": DEMO_PASSWORD,
        "stats_contact_id": DEMO_CONTACT_ID,
    }
    assert record.inbound_auth == "token"
    assert record.inbound_token is not None
    assert record.inbound_token.startswith("sbt_")
    assert record.mapping == demo_smartoffice_mapping()


def test_demo_smartoffice_is_reused_with_its_token(database_url: str) -> None:
    first = ensure_demo_smartoffice_connection(database_url, SECRET_KEY, SMARTOFFICE_URL)
    token = _token(database_url, first.id)

    second = ensure_demo_smartoffice_connection(database_url, SECRET_KEY, SMARTOFFICE_URL)

    assert not second.created
    assert second.id == first.id
    assert _token(database_url, second.id) == token


def test_a_reused_demo_smartoffice_is_left_as_found_and_its_drift_reported(
    database_url: str,
) -> None:
    made = ensure_demo_smartoffice_connection(database_url, SECRET_KEY, SMARTOFFICE_URL)
    store = Store(database_url, SECRET_KEY)
    edited = demo_smartoffice_mapping().replace("$.request_id", "$.delivery.id")
    store.update_connection(made.id, mapping=edited)
    store.dispose()

    # This run's sandbox listens elsewhere; the connection keeps its URL and its mapping.
    again = ensure_demo_smartoffice_connection(
        database_url, SECRET_KEY, "http://127.0.0.1:8130/xml"
    )

    assert again.crm_url == SMARTOFFICE_URL
    assert not again.shipped_mapping
    notes = again.drift("http://127.0.0.1:8130/xml", "this run's SmartOffice sandbox")
    assert notes == [
        "the demo-smartoffice connection writes back to http://127.0.0.1:8030/xml, not to "
        "this run's SmartOffice sandbox (http://127.0.0.1:8130/xml); delete var/ to recreate "
        "it.",
        "the demo-smartoffice connection's mapping is not the one `make run` ships, so "
        "`demo send` needs --body FILE for it; delete var/ to recreate it.",
    ]


def test_demo_smartoffice_under_another_secret_key_says_what_to_do(database_url: str) -> None:
    ensure_demo_smartoffice_connection(database_url, SECRET_KEY, SMARTOFFICE_URL)

    with pytest.raises(DemoConnectionError, match=r"demo-smartoffice .*delete var/"):
        ensure_demo_smartoffice_connection(database_url, "t" * 43, SMARTOFFICE_URL)


def test_the_demo_smartoffice_login_is_the_sandboxs_seed_account() -> None:
    assert (SANDBOX_OFFICE, SANDBOX_USER, SANDBOX_PASSWORD) == (
        DEMO_OFFICE,
        DEMO_USER,
        DEMO_PASSWORD,
    )
    assert demo_connections.DEMO_CONTACT_ID == DEMO_CONTACT_ID


def test_the_demo_smartoffice_settings_are_valid_smartoffice_settings() -> None:
    assert load_settings("smartoffice", demo_smartoffice_settings()) == (
        demo_smartoffice_settings()
    )


def test_a_drift_free_demo_connection_has_no_notes() -> None:
    connection = DemoConnection("con_1", "http://127.0.0.1:8020/hooks/demo", "whsec_x", True)

    assert connection.drift("http://127.0.0.1:8020/hooks/demo", "this run's sandbox CRM") == []


# --- the shipped mapping --------------------------------------------------------------------


def test_the_shipped_mapping_is_valid_for_the_smartoffice_kind(
    shipped: ConnectionMapping,
) -> None:
    assert shipped.version == 1
    assert shipped.inbound is not None
    # It overrides what the SmartPad of a post's tags says; the other types keep defaults.
    assert {type_: set(fields) for type_, fields in shipped.outbound.items()} == {
        "post.tags_synced": {"Keywords", "Note"}
    }


def test_the_shipped_mapping_is_package_data() -> None:
    pyproject = Path(__file__).parents[4] / "pyproject.toml"
    package_data = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]

    # Without it an installed (non-editable) socialbridge could not make demo-smartoffice.
    assert "demo/*.yaml" in package_data["console"]
    assert DEMO_SMARTOFFICE_MAPPING.endswith(".yaml")


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_demo_body_maps_to_a_valid_event_on_the_demo_contact(
    shipped: ConnectionMapping, event_type: str
) -> None:
    sent = body(event_type)

    mapped = map_inbound(shipped, sent, received_at=RECEIVED_AT)
    event = load_event(mapped.envelope)

    assert event.type == event_type
    assert event.data.record == {"contact_id": DEMO_CONTACT_ID}
    assert mapped.delivery_id == sent["request_id"]
    assert sent["action"] == SMARTOFFICE_ACTIONS[event_type]


def test_the_post_published_body_carries_the_post(shipped: ConnectionMapping) -> None:
    sent = body("post.published", title="  Open house  ")

    mapped = map_inbound(shipped, sent, received_at=RECEIVED_AT)

    assert mapped.envelope["data"] == {
        "post_id": "crm-post-1",
        "ghl_post_id": "post_demo_1",
        "title": "Open house",  # stripped by the mapping
        "record": {"contact_id": DEMO_CONTACT_ID},
    }


def test_a_post_published_body_without_a_ghl_post_leaves_it_out() -> None:
    assert body("post.published", ghl_post_id=None)["post"] == {
        "id": "crm-post-1",
        "title": "Open house this Saturday",
    }


def test_the_tag_details_body_carries_the_tag_ids(shipped: ConnectionMapping) -> None:
    mapped = map_inbound(shipped, body("tag.details_requested"), received_at=RECEIVED_AT)

    assert mapped.envelope["data"]["tag_ids"] == ["t1", "t2"]


def test_two_bodies_are_two_deliveries_unless_an_id_is_given() -> None:
    first, second = body("post.published"), body("post.published")

    assert first["request_id"] != second["request_id"]
    assert first["request_id"].startswith("req_")
    assert body("statistics.requested", request_id="req_1")["request_id"] == "req_1"


def test_the_shipped_mapping_reads_smartoffice_dates(shipped: ConnectionMapping) -> None:
    sent = {
        "action": "stats",
        "request_id": "req_1",
        "contact": {"id": DEMO_CONTACT_ID},
        "period": {"from": "11/01/2026", "to": "11/23/2026"},
    }

    event = load_event(map_inbound(shipped, sent, received_at=RECEIVED_AT).envelope)

    assert isinstance(event.data, StatisticsRequested)
    assert event.data.date_range == (dt.date(2026, 11, 1), dt.date(2026, 11, 23))
    assert event.data.record == {"contact_id": DEMO_CONTACT_ID}


def tags_document(post_tags: list[str], tags: int = 3) -> dict[str, Any]:
    """`WriteBack.document()` of a post.tags_synced write-back."""
    return {
        "type": "post.tags_synced",
        "post_id": "crm-post-1",
        "location_id": DEMO_LOCATION_ID,
        "ghl_post_id": "post_demo_1" if post_tags else None,
        "tags": [{"id": f"t{n}", "name": f"Tag {n}"} for n in range(tags)],
        "post_tags": [{"id": f"p{n}", "name": name} for n, name in enumerate(post_tags)],
        "synced_at": "2026-11-23T10:00:05Z",
        "record": {"contact_id": DEMO_CONTACT_ID},
    }


def test_the_shipped_smartpad_names_the_posts_tags(shipped: ConnectionMapping) -> None:
    specs = shipped.outbound["post.tags_synced"]

    values = evaluate_fields(specs, tags_document(["Open House", "Spring"]))

    assert values == {
        "Keywords": "open house, spring",
        "Note": "Social post crm-post-1 is live as GHL post post_demo_1.\n"
        "Its tags: Open House, Spring\n"
        "Tags in this location: 3",
    }


def test_the_shipped_smartpad_of_an_untagged_post(shipped: ConnectionMapping) -> None:
    values = evaluate_fields(shipped.outbound["post.tags_synced"], tags_document([]))

    assert values == {
        "Keywords": "untagged",
        "Note": "Social post crm-post-1 is live.\nIts tags: none yet\nTags in this location: 3",
    }


def test_the_shipped_keywords_keep_whole_names_within_255_characters(
    shipped: ConnectionMapping,
) -> None:
    names = [f"tag-{n:03d}-" + "x" * 40 for n in range(10)]  # 48 characters each

    keywords = evaluate_fields(shipped.outbound["post.tags_synced"], tags_document(names))[
        "Keywords"
    ]

    # Five names and four separators are 248 characters; a sixth would not fit whole.
    assert keywords == ", ".join(names[:5])
    assert len(keywords) == 248


def _token(database_url: str, connection_id: str) -> str | None:
    store = Store(database_url, SECRET_KEY)
    try:
        record = store.get_connection(connection_id)
    finally:
        store.dispose()
    assert record is not None
    return record.inbound_token


# --- demo-ixact ------------------------------------------------------------------------------

SMTP_PORT = 8025


@pytest.fixture(scope="module")
def shipped_ixact() -> ConnectionMapping:
    """The shipped IXACT mapping, loaded as the receiver and the connector load it."""
    outbound_fields = connector_kind("ixact").capabilities.outbound_fields
    return load_mapping(demo_ixact_mapping(), outbound_fields=outbound_fields)


def ixact_body(event_type: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "post_id": "crm-post-1",
        "ghl_post_id": "post_demo_1",
        "tag_ids": ("t1", "t2"),
        "title": "Open house this Saturday",
    }
    values.update(overrides)
    return demo_ixact_body(event_type, **values)


DEMO_RECORD = {
    "contact_email": DEMO_IXACT_CONTACT_EMAIL,
    "first_name": DEMO_IXACT_FIRST_NAME,
    "last_name": DEMO_IXACT_LAST_NAME,
}


def test_demo_ixact_is_created_with_the_mail_sandbox_login_a_token_and_the_mapping(
    database_url: str,
) -> None:
    made = ensure_demo_ixact_connection(database_url, SECRET_KEY, SMTP_PORT)

    assert made.created
    assert (made.name, made.crm_kind, made.crm_url) == (
        "demo-ixact",
        "ixact",
        "smtp://127.0.0.1:8025",
    )
    assert made.crm_url == demo_ixact_smtp_url(SMTP_PORT)
    assert made.shipped_mapping
    assert made.drift(demo_ixact_smtp_url(SMTP_PORT), "this run's sandbox mail server") == []
    store = Store(database_url, SECRET_KEY)
    try:
        record = store.find_connection("demo-ixact")
    finally:
        store.dispose()
    assert record is not None
    assert record.id == made.id
    assert (record.location_id, record.ghl_token) == (DEMO_LOCATION_ID, DEMO_GHL_TOKEN)
    assert record.crm_url == ""  # IXACT is reached by email, not by a URL
    # As `connections add --crm ixact` stores them: the notes address defaulted.
    assert dict(record.crm_settings) == {
        "smtp_host": "127.0.0.1",
        "smtp_port": SMTP_PORT,
        "smtp_security": "none",
        "smtp_user": DEMO_SMTP_USER,
        "smtp_password": DEMO_SMTP_PASSWORD,
        "sender": DEMO_IXACT_SENDER,
        "notes_address": NOTES_ADDRESS,
        "stats_contact_email": DEMO_IXACT_CONTACT_EMAIL,
    }
    assert record.inbound_auth == "token"
    assert record.inbound_token is not None
    assert record.inbound_token.startswith("sbt_")
    assert record.mapping == demo_ixact_mapping()


def test_demo_ixact_is_reused_with_its_token(database_url: str) -> None:
    first = ensure_demo_ixact_connection(database_url, SECRET_KEY, SMTP_PORT)
    token = _token(database_url, first.id)

    second = ensure_demo_ixact_connection(database_url, SECRET_KEY, SMTP_PORT)

    assert not second.created
    assert second.id == first.id
    assert _token(database_url, second.id) == token


def test_a_reused_demo_ixact_is_left_as_found_and_its_drift_reported(database_url: str) -> None:
    made = ensure_demo_ixact_connection(database_url, SECRET_KEY, SMTP_PORT)
    store = Store(database_url, SECRET_KEY)
    edited = demo_ixact_mapping().replace("$.request_id", "$.submission.id")
    store.update_connection(made.id, mapping=edited)
    store.dispose()

    # This run's mail sandbox listens on another SMTP port; the connection keeps its own.
    again = ensure_demo_ixact_connection(database_url, SECRET_KEY, 8125)

    assert again.crm_url == "smtp://127.0.0.1:8025"
    assert not again.shipped_mapping
    notes = again.drift(demo_ixact_smtp_url(8125), "this run's sandbox mail server")
    assert notes == [
        "the demo-ixact connection writes back to smtp://127.0.0.1:8025, not to this run's "
        "sandbox mail server (smtp://127.0.0.1:8125); delete var/ to recreate it.",
        "the demo-ixact connection's mapping is not the one `make run` ships, so "
        "`demo send` needs --body FILE for it; delete var/ to recreate it.",
    ]


def test_a_reused_demo_ixact_whose_settings_no_longer_work_says_what_to_do(
    database_url: str,
) -> None:
    made = ensure_demo_ixact_connection(database_url, SECRET_KEY, SMTP_PORT)
    store = Store(database_url, SECRET_KEY)
    # Stored behind the settings schema's back: plain text to a host on the network.
    broken = {**demo_ixact_settings(SMTP_PORT), "smtp_host": "smtp.example.com"}
    store.update_connection(made.id, crm_settings=broken)
    store.dispose()

    with pytest.raises(DemoConnectionError) as raised:
        ensure_demo_ixact_connection(database_url, SECRET_KEY, SMTP_PORT)

    assert str(raised.value) == (
        "the demo-ixact connection's settings cannot be used: CRM setting smtp_security: "
        "none is only allowed for a loopback host; delete var/ to recreate it."
    )


def test_demo_ixact_under_another_secret_key_says_what_to_do(database_url: str) -> None:
    ensure_demo_ixact_connection(database_url, SECRET_KEY, SMTP_PORT)

    with pytest.raises(DemoConnectionError, match=r"demo-ixact .*delete var/"):
        ensure_demo_ixact_connection(database_url, "t" * 43, SMTP_PORT)


def test_each_demo_connection_is_made_by_its_own_function(database_url: str) -> None:
    ensure_demo_ixact_connection(database_url, SECRET_KEY, SMTP_PORT)
    store = Store(database_url, SECRET_KEY)
    try:
        names = sorted(connection.name for connection in store.list_connections())
    finally:
        store.dispose()

    assert names == ["demo-ixact"]


def test_the_demo_ixact_login_is_the_mail_sandboxs_seed_account() -> None:
    assert (SANDBOX_SMTP_USER, SANDBOX_SMTP_PASSWORD) == (DEMO_SMTP_USER, DEMO_SMTP_PASSWORD)
    # A mail provider lets an account send as itself: the login is the authorized sender.
    assert DEMO_IXACT_SENDER == DEMO_SMTP_USER


def test_the_demo_ixact_settings_are_valid_ixact_settings() -> None:
    # smtp_security none is allowed because the host is a loopback one.
    loaded = load_settings("ixact", demo_ixact_settings(SMTP_PORT))

    assert loaded == {**demo_ixact_settings(SMTP_PORT), "notes_address": NOTES_ADDRESS}


def test_the_shipped_ixact_mapping_is_valid_for_the_ixact_kind_and_keeps_default_texts(
    shipped_ixact: ConnectionMapping,
) -> None:
    assert shipped_ixact.version == 1
    assert shipped_ixact.inbound is not None
    # No outbound part: each email keeps the connector's documented subject and text.
    assert dict(shipped_ixact.outbound) == {}
    assert DEMO_IXACT_MAPPING.endswith(".yaml")  # package data: cli's dev/*.yaml


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_demo_ixact_body_maps_to_a_valid_event_about_the_demo_contact(
    shipped_ixact: ConnectionMapping, event_type: str
) -> None:
    sent = ixact_body(event_type)

    mapped = map_inbound(shipped_ixact, sent, received_at=RECEIVED_AT)
    event = load_event(mapped.envelope)

    assert event.type == event_type
    assert event.data.record is not None
    assert {key: event.data.record[key] for key in DEMO_RECORD} == DEMO_RECORD
    assert mapped.delivery_id == sent["request_id"]
    assert sent["action"] == IXACT_ACTIONS[event_type]


def test_the_post_published_ixact_body_carries_the_post_and_its_title(
    shipped_ixact: ConnectionMapping,
) -> None:
    sent = ixact_body("post.published", title="  Open house  ")

    mapped = map_inbound(shipped_ixact, sent, received_at=RECEIVED_AT)

    assert mapped.envelope["data"] == {
        "post_id": "crm-post-1",
        "ghl_post_id": "post_demo_1",
        "title": "Open house",  # stripped by the mapping
        "record": {**DEMO_RECORD, "title": "Open house"},
    }


def test_the_tag_details_ixact_body_carries_the_tag_ids_and_the_title(
    shipped_ixact: ConnectionMapping,
) -> None:
    event = load_event(
        map_inbound(
            shipped_ixact, ixact_body("tag.details_requested"), received_at=RECEIVED_AT
        ).envelope
    )

    assert isinstance(event.data, TagDetailsRequested)
    assert list(event.data.tag_ids) == ["t1", "t2"]
    assert event.data.record == {**DEMO_RECORD, "title": "Open house this Saturday"}


def test_a_statistics_body_with_a_period_and_a_company(shipped_ixact: ConnectionMapping) -> None:
    sent = {
        "action": "statistics",
        "request_id": "req_1",
        "contact": {"email": " office@example.com ", "company": "Lee Realty"},
        "period": {"from": "2026-11-01", "to": "2026-11-23"},
    }

    event = load_event(map_inbound(shipped_ixact, sent, received_at=RECEIVED_AT).envelope)

    assert isinstance(event.data, StatisticsRequested)
    assert event.data.date_range == (dt.date(2026, 11, 1), dt.date(2026, 11, 23))
    assert event.data.record == {"contact_email": "office@example.com", "company": "Lee Realty"}


def test_a_post_published_ixact_body_without_a_ghl_post_leaves_it_out() -> None:
    assert ixact_body("post.published", ghl_post_id=None)["post"] == {
        "id": "crm-post-1",
        "title": "Open house this Saturday",
    }


def test_two_ixact_bodies_are_two_deliveries_unless_an_id_is_given() -> None:
    first, second = ixact_body("post.published"), ixact_body("post.published")

    assert first["request_id"] != second["request_id"]
    assert re.fullmatch(r"req_[0-9a-f]{16}", first["request_id"])
    assert ixact_body("statistics.requested", request_id="req_1")["request_id"] == "req_1"


class UnusedLedger:
    """A write ledger that a preview must never touch."""

    def begin(self, key: str, **_: Any) -> LedgerEntry:
        raise AssertionError(f"preview began write {key}")

    def mark_sent(self, key: str) -> None:
        raise AssertionError(f"preview marked write {key} sent")


def test_the_demo_ixact_email_is_filed_under_the_demo_contact_with_the_posts_title(
    shipped_ixact: ConnectionMapping,
) -> None:
    mapped = map_inbound(shipped_ixact, ixact_body(POST_PUBLISHED), received_at=RECEIVED_AT)
    connector = build_connector(
        "ixact",
        url="",
        settings=load_settings("ixact", demo_ixact_settings(SMTP_PORT)),
        app_settings=Settings(),
        ledger=UnusedLedger(),
    )
    writeback = WriteBack(
        type="post.tags_synced",
        idempotency_key="evt_1.post.tags_synced",
        data={
            key: value
            for key, value in tags_document(["Open House"]).items()
            if key not in ("type", "record")
        },
        record=mapped.envelope["data"]["record"],
    )

    [email] = connector.preview(writeback)

    assert email.url == "smtp://127.0.0.1:8025"
    assert email.headers["From"] == DEMO_IXACT_SENDER
    assert email.headers["To"] == DEMO_IXACT_CONTACT_EMAIL
    assert "Cc" not in email.headers
    assert email.headers["Subject"] == 'GHL tags for "Open house this Saturday"'
    assert f"RCPT TO:<{NOTES_ADDRESS}> only" in email.purpose
