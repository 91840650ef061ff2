"""The SmartOffice connector against a fake XML Engine at the transport."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from crm.connector import WriteBack
from crm.smartoffice import SmartOfficeConnector
from crm.smartoffice.settings import AuthMode, Credentials
from crm.smartoffice.texts import KEYWORDS_MAX
from socialbridge.errors import AuthError, IntegrationError, PermanentError, RetryableError
from socialbridge.logs import JsonFormatter
from tests.unit.crm.smartoffice.fake_xml_engine import (
    FakeXmlEngine,
    StoredPad,
    carried_out_then_lost,
    carried_out_without_status,
    error_answer,
    ignored_without_status,
)
from tests.unit.crm.smartoffice.samples import CONTACT, KEY, statistics, tags_synced

# The XML Engine URL may carry a token of its own: only the origin reaches logs and messages.
URL = "https://so.example/sosvc/xml?token=url-token-9f8e7d"
PASSWORD = "sandbox-password"
API_KEY = "gw-key-5c1d"
API_SECRET = "gw-secret-77aa"
DIRECT = Credentials(auth=AuthMode.DIRECT, office="demo", user="agent", password=PASSWORD)
GATEWAY = Credentials(
    auth=AuthMode.GATEWAY,
    office="demo",
    user="agent",
    sitename="sandbox",
    api_key=API_KEY,
    api_secret=API_SECRET,
)


@pytest.fixture
def engine() -> FakeXmlEngine:
    return FakeXmlEngine(password=PASSWORD)


def make(
    engine: FakeXmlEngine,
    credentials: Credentials = DIRECT,
    *,
    stats_contact_id: str | None = None,
) -> SmartOfficeConnector:
    return SmartOfficeConnector(
        httpx.Client(transport=httpx.MockTransport(engine)),
        url=URL,
        credentials=credentials,
        stats_contact_id=stats_contact_id,
    )


@pytest.fixture
def connector(engine: FakeXmlEngine) -> Iterator[SmartOfficeConnector]:
    connector = make(engine)
    yield connector
    connector.close()


# --- a write ------------------------------------------------------------------------------


def test_a_write_searches_then_inserts_one_smartpad(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    connector.write(tags_synced())

    assert engine.operations() == ["search", "insert"]
    [pad] = engine.pads
    assert pad.contact_id == CONTACT
    assert pad.keywords == "Listing"
    assert pad.note.startswith("GHL tags for CRM post crm-post-1 (GHL post ghl-9)\n")
    assert pad.note.endswith(f"\nsocialbridge-id: {KEY}")
    search = engine.documents()[0]
    assert [e.findtext("v") for e in search.iter("expr")] == [CONTACT, f"socialbridge-id: {KEY}"]


def test_requests_go_to_the_configured_url_as_utf8_xml(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    connector.write(tags_synced())

    for request in engine.requests:
        assert request.method == "POST"
        assert str(request.url) == URL
        assert request.headers["content-type"] == "application/xml; charset=utf-8"
        assert request.headers["user-agent"].startswith("socialbridge/")
        assert "api-key" not in request.headers


def test_a_write_already_stored_is_not_inserted_again(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    engine.pads.append(
        StoredPad("SmartPad.7.9", CONTACT, "Listing", f"earlier\nsocialbridge-id: {KEY}")
    )

    connector.write(tags_synced())

    assert engine.operations() == ["search"]
    assert len(engine.pads) == 1


def test_the_same_write_twice_stores_one_smartpad(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    connector.write(tags_synced())
    connector.write(tags_synced())

    assert engine.operations() == ["search", "insert", "search"]
    assert len(engine.pads) == 1


def test_a_replay_with_its_own_key_is_stored_again(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    connector.write(tags_synced())
    connector.write(tags_synced(key="evt_1.r1.post.tags_synced"))

    assert len(engine.pads) == 2


def test_an_insert_whose_answer_was_lost_is_found_by_the_retry(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    engine.next_answers = [lambda request, e: e.answer(request), carried_out_then_lost]

    with pytest.raises(RetryableError, match="did not answer in time"):
        connector.write(tags_synced())
    connector.write(tags_synced())

    assert engine.operations() == ["search", "insert", "search"]
    assert len(engine.pads) == 1


def test_a_search_match_that_only_starts_with_the_marker_does_not_count(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    # SmartOffice's `contains` finds the key of a later replay too.
    engine.pads.append(StoredPad("SmartPad.7.9", CONTACT, None, f"x\nsocialbridge-id: {KEY}.again"))

    connector.write(tags_synced())

    assert engine.operations() == ["search", "insert"]
    assert len(engine.pads) == 2


def test_another_contacts_smartpad_does_not_count(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    engine.pads.append(StoredPad("SmartPad.7.9", "Contact.1.99", None, f"socialbridge-id: {KEY}"))

    connector.write(tags_synced())

    assert [pad.contact_id for pad in engine.pads] == ["Contact.1.99", CONTACT]


def test_a_missing_contact_is_permanent_and_sends_nothing(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    with pytest.raises(PermanentError, match=r"data\.record\.contact_id is missing"):
        connector.write(tags_synced(contact=None))

    assert engine.requests == []


def test_a_contact_that_is_no_smartoffice_id_is_permanent(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    with pytest.raises(PermanentError, match=r"data\.record\.contact_id '31' is not a SmartOffice"):
        connector.write(tags_synced(contact="31"))

    assert engine.requests == []


def test_statistics_land_on_the_record_contact_first(engine: FakeXmlEngine) -> None:
    connector = make(engine, stats_contact_id="Contact.1.2")

    connector.write(statistics(contact="Contact.1.5"))

    assert [pad.contact_id for pad in engine.pads] == ["Contact.1.5"]
    assert engine.pads[0].keywords == "GHL statistics, facebook"


def test_statistics_without_a_record_contact_land_on_the_stats_contact(
    engine: FakeXmlEngine,
) -> None:
    connector = make(engine, stats_contact_id="Contact.1.2")

    connector.write(statistics())

    assert [pad.contact_id for pad in engine.pads] == ["Contact.1.2"]


def test_statistics_without_any_contact_name_both_ways_to_give_one(
    connector: SmartOfficeConnector,
) -> None:
    with pytest.raises(PermanentError) as caught:
        connector.write(statistics())

    assert "data.record.contact_id" in caught.value.message
    assert "stats_contact_id" in caught.value.message


def test_keywords_are_cut_at_a_whole_name(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    names = [f"Neighbourhood {n:02d} open house" for n in range(20)]  # 29 characters each
    tags = [{"id": f"t{n}", "name": name} for n, name in enumerate(names)]

    connector.write(tags_synced(tags=tags, post_tags=tags))

    [pad] = engine.pads
    assert pad.keywords is not None
    assert len(pad.keywords) <= KEYWORDS_MAX
    assert pad.keywords.split(", ") == names[:8]  # 8 * 31 - 2 = 246; a 9th makes 277


def test_an_invalid_write_back_is_permanent(connector: SmartOfficeConnector) -> None:
    with pytest.raises(PermanentError, match=r"invalid post\.tags_synced"):
        connector.write(tags_synced(tags=[{"name": "no id"}]))


def test_an_unknown_type_is_permanent(connector: SmartOfficeConnector) -> None:
    odd = WriteBack(type="post.liked", idempotency_key="k", data={}, record={"contact_id": CONTACT})

    with pytest.raises(PermanentError, match=r"no write-back of type 'post\.liked'"):
        connector.write(odd)


@pytest.mark.parametrize("key", ["", "has space", "line\nbreak", "clé"])
def test_a_key_that_cannot_be_a_marker_is_permanent(
    connector: SmartOfficeConnector, key: str
) -> None:
    with pytest.raises(PermanentError, match="idempotency key"):
        connector.write(tags_synced(key=key))


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [(2003, RetryableError), (1, RetryableError), (2002, AuthError), (10001, AuthError)],
)
def test_smartoffice_codes_raise_their_error(
    connector: SmartOfficeConnector,
    engine: FakeXmlEngine,
    code: int,
    kind: type[IntegrationError],
) -> None:
    engine.next_answers = [error_answer(code, "Refused.")]

    with pytest.raises(kind) as caught:
        connector.write(tags_synced())

    assert type(caught.value) is kind
    assert caught.value.message.startswith(f"SmartOffice error {code}: Refused.")
    assert engine.pads == []


def test_a_refused_login_says_which_settings_to_check(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    engine.password = "changed"

    with pytest.raises(AuthError) as caught:
        connector.write(tags_synced())

    assert caught.value.message == (
        "SmartOffice error 2002: Login failed. "
        "(check the connection's office, user and password settings)"
    )


def test_an_error_on_the_insert_is_permanent_with_smartoffice_words(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    engine.next_answers = [
        lambda request, e: e.answer(request),
        error_answer(4001, "Property not found: Keywords."),
    ]

    with pytest.raises(PermanentError) as caught:
        connector.write(tags_synced())

    assert caught.value.message == "SmartOffice error 4001: Property not found: Keywords."
    assert caught.value.status == 200


def test_a_network_error_is_retryable(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    def refuse(request: httpx.Request, _: FakeXmlEngine) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    engine.next_answers = [refuse]

    with pytest.raises(RetryableError) as caught:
        connector.write(tags_synced())

    assert caught.value.message == (
        "SmartOffice at https://so.example is unreachable: connection refused"
    )


def test_an_unconfirmed_insert_that_landed_is_delivered(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    engine.next_answers = [lambda request, e: e.answer(request), carried_out_without_status]

    connector.write(tags_synced())

    assert engine.operations() == ["search", "insert", "search"]
    assert len(engine.pads) == 1


def test_an_unconfirmed_insert_that_did_not_land_is_permanent(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    engine.next_answers = [lambda request, e: e.answer(request), ignored_without_status]

    with pytest.raises(PermanentError, match="answer to the SmartPad insert was not understood"):
        connector.write(tags_synced())

    assert engine.operations() == ["search", "insert", "search"]
    assert engine.pads == []


# --- gateway mode -------------------------------------------------------------------------


def test_gateway_mode_sends_the_keys_as_headers_and_an_empty_header(
    engine: FakeXmlEngine,
) -> None:
    connector = make(engine, GATEWAY)

    connector.write(tags_synced())

    for request in engine.requests:
        assert request.headers["sitename"] == "sandbox"
        assert request.headers["username"] == "sandbox_demo_agent"
        assert request.headers["api-key"] == API_KEY
        assert request.headers["api-secret"] == API_SECRET
        header = engine.parse(request).find("header")
        assert header is not None
        assert [(child.tag, child.text) for child in header] == [
            ("office", None),
            ("user", None),
            ("password", None),
        ]
    assert len(engine.pads) == 1


# --- check --------------------------------------------------------------------------------


def test_check_asks_the_time_and_says_who_logged_in(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    message = connector.check()

    assert engine.operations() == ["method"]
    assert message.startswith("SmartOffice at https://so.example answered in ")
    assert message.endswith(
        " ms: server time 2026-03-02T14:05:09 (direct login, office demo, user agent)"
    )


def test_check_in_gateway_mode_names_the_site(engine: FakeXmlEngine) -> None:
    message = make(engine, GATEWAY).check()

    assert message.endswith("(API gateway, site sandbox, office demo, user agent)")


def test_check_raises_when_the_login_is_refused(
    connector: SmartOfficeConnector, engine: FakeXmlEngine
) -> None:
    engine.next_answers = [error_answer(2002, "Login failed.")]

    with pytest.raises(AuthError):
        connector.check()


# --- preview ------------------------------------------------------------------------------


def test_preview_shows_the_requests_write_sends_with_secrets_masked(
    engine: FakeXmlEngine,
) -> None:
    connector = make(engine)
    shown = connector.preview(tags_synced())
    assert engine.requests == []

    connector.write(tags_synced())

    assert [request.purpose for request in shown] == [
        "look for a SmartPad an earlier attempt stored",
        "insert the SmartPad (only when the search finds none)",
    ]
    for preview, sent in zip(shown, engine.requests, strict=True):
        assert preview.method == "POST"
        assert preview.url == "https://so.example/sosvc/xml?token=***"
        assert preview.body == sent.content.decode().replace(PASSWORD, "***")
        assert "<password>***</password>" in preview.body
        assert preview.headers["content-type"] == sent.headers["content-type"]


def test_preview_in_gateway_mode_masks_the_keys(engine: FakeXmlEngine) -> None:
    [search, insert] = make(engine, GATEWAY).preview(tags_synced())

    for request in (search, insert):
        assert request.headers["api-key"] == "***"
        assert request.headers["api-secret"] == "***"
        assert request.headers["username"] == "sandbox_demo_agent"
        assert API_KEY not in request.body
        assert API_SECRET not in request.body


def test_preview_refuses_what_write_refuses(connector: SmartOfficeConnector) -> None:
    with pytest.raises(PermanentError, match=r"data\.record\.contact_id is missing"):
        connector.preview(tags_synced(contact=None))


# --- construction and logs ----------------------------------------------------------------


def test_preview_masks_user_info_in_the_url(engine: FakeXmlEngine) -> None:
    connector = SmartOfficeConnector(
        httpx.Client(transport=httpx.MockTransport(engine)),
        url="https://integration:hunter22@so.example/sosvc/xml",
        credentials=DIRECT,
    )

    [search, _] = connector.preview(tags_synced())

    assert search.url == "https://***@so.example/sosvc/xml"


@pytest.mark.parametrize(
    "url", ["ftp://so.example/xml", "so.example/xml", "https://", "http://[::1"]
)
def test_the_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError, match="CRM URL: expected an http:// or https:// URL"):
        SmartOfficeConnector(httpx.Client(), url=url, credentials=DIRECT)


def every_log_text(records: list[logging.LogRecord]) -> str:
    formatter = JsonFormatter()
    return "\n".join(formatter.format(record) for record in records)


@pytest.mark.parametrize("credentials", [DIRECT, GATEWAY], ids=["direct", "gateway"])
def test_requests_and_answers_are_logged_without_secrets(
    engine: FakeXmlEngine, caplog: pytest.LogCaptureFixture, credentials: Credentials
) -> None:
    # A Note that happens to quote the password must not carry it into a log either.
    connector = make(engine, credentials)
    noisy = [{"id": "t1", "name": f"tag {PASSWORD} {API_KEY}"}]
    engine.next_answers = [lambda request, e: e.answer(request), carried_out_then_lost]

    with caplog.at_level(logging.DEBUG, logger="crm.smartoffice"):
        with pytest.raises(RetryableError):
            connector.write(tags_synced(post_tags=noisy))
        connector.write(tags_synced(post_tags=noisy))
        connector.check()

    events = [record.getMessage() for record in caplog.records]
    assert events.count("so.request") == 4
    assert events.count("so.answer") == 4
    assert "crm.write" in events
    text = every_log_text(caplog.records)
    for secret in (*credentials.secrets, "url-token-9f8e7d"):
        assert secret not in text
    assert "socialbridge-id: evt_1.post.tags_synced" in text  # the XML itself is there
    answers = [
        json.loads(JsonFormatter().format(record))
        for record in caplog.records
        if record.getMessage() == "so.answer" and "xml" in record.event_fields  # type: ignore[attr-defined]
    ]
    assert answers
    assert all(answer["crm"] == "https://so.example" for answer in answers)


def test_logged_xml_is_bounded(
    connector: SmartOfficeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    tags = [{"id": f"t{n}", "name": f"A rather long tag name number {n}"} for n in range(300)]

    with caplog.at_level(logging.INFO, logger="crm.smartoffice"):
        connector.write(tags_synced(post_tags=tags))

    logged = [
        record.event_fields["xml"]  # type: ignore[attr-defined]
        for record in caplog.records
        if record.getMessage() == "so.request"
    ]
    assert len(logged) == 2
    assert all(len(xml) <= 4097 for xml in logged)
    assert logged[1].endswith("…")
