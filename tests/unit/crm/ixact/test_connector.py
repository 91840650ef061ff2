"""The IXACT connector against the sandbox mail server (aiosmtpd) and the real write ledger.

The server is `sandbox.mail.server.MailSandbox`, the one ``make run`` starts, with its
faults; its certificate is made for the test (`tests.tlsutil`) and trusted through the
``smtp_ca_file`` setting. Every write goes through `crm.ixact.KIND.build`, as a worker
builds it, with the store's ledger (`workers.services.StoreLedger`) on a SQLite file: at
most once per write is tested on what the worker really uses.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from crm.connector import ConnectorConfig, CRMConnector
from crm.ixact import KIND
from crm.ixact.message import message_id
from mappings import FieldSpec, load_mapping
from sandbox.mail.server import MailSandbox, server_tls_context
from socialbridge.config import Settings
from socialbridge.errors import AuthError, PermanentError, RetryableError
from socialbridge.logs import JsonFormatter
from store import ConnectionRecord, Store, WriteStatus, migrate
from tests.tlsutil import make_self_signed
from tests.unit.crm.ixact.samples import CONTACT, KEY, SENDER, statistics, tags_synced
from workers.services import StoreLedger

PASSWORD = "smtp-pw-7c2e91"
NOTES = "notes@ixactcontact.com"
# Long enough for any step of a healthy session on a busy machine; only the test of a
# server that never answers waits for it to run out.
TIMEOUT = 10.0
SHORT_TIMEOUT = 3.0


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path_factory.mktemp('ixact-store') / 'socialbridge.db'}"
    migrate.upgrade(url)
    opened = Store(url, "ixact-test-secret-key")
    yield opened
    opened.dispose()


@pytest.fixture
def connection(store: Store) -> ConnectionRecord:
    # One connection per test: each starts with an empty ledger.
    return store.create_connection(
        name=f"ixact-{uuid.uuid4().hex[:8]}",
        location_id="loc-1",
        ghl_token="ghl-token",
        crm_kind="ixact",
    )


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed(tmp_path_factory.mktemp("ixact-tls"))


@pytest.fixture
def server(certificate: tuple[Path, Path]) -> Iterator[MailSandbox]:
    """STARTTLS with the throw-away certificate, and AUTH (required) for the sender."""
    with MailSandbox(
        tls_context=server_tls_context(*certificate),
        require_auth=True,
        users={SENDER: PASSWORD},
    ) as running:
        yield running


def settings_for(
    server: MailSandbox, certificate: tuple[Path, Path], **more: Any
) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": server.smtp_port,
        "smtp_security": "starttls",
        "smtp_ca_file": str(certificate[0]),
        "smtp_user": SENDER,
        "smtp_password": PASSWORD,
        "sender": SENDER,
        "notes_address": NOTES,
        **more,
    }


def build(
    store: Store,
    connection: ConnectionRecord,
    settings: Mapping[str, Any],
    *,
    timeout: float = TIMEOUT,
    outbound: Mapping[str, Mapping[str, FieldSpec]] | None = None,
) -> CRMConnector:
    return KIND.build(
        ConnectorConfig(
            url="",
            settings=settings,
            app=Settings.from_mapping({"crm_timeout": timeout}),
            outbound=outbound or {},
            ledger=StoreLedger(store, connection.id),
        )
    )


@pytest.fixture
def connector(
    store: Store,
    connection: ConnectionRecord,
    server: MailSandbox,
    certificate: tuple[Path, Path],
) -> Iterator[CRMConnector]:
    built = build(store, connection, settings_for(server, certificate))
    yield built
    built.close()


def ledger_entries(store: Store, connection: ConnectionRecord) -> list[Any]:
    return store.list_writes(connection.id)


def logged(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The connector's own lines (the test server logs too), as JSON."""
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.name.startswith("crm.ixact")
    ]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- a write --------------------------------------------------------------------------------


def test_a_write_is_one_email_over_starttls_and_auth_to_the_notes_address_only(
    connector: CRMConnector, server: MailSandbox, store: Store, connection: ConnectionRecord
) -> None:
    connector.write(tags_synced(title="Open house"))

    [received] = server.messages()
    assert (received["auth_user"], received["tls"]) == (SENDER, True)
    assert received["envelope_from"] == SENDER
    assert received["envelope_to"] == [NOTES]
    assert received["from"] == SENDER
    assert received["to"] == CONTACT
    assert received["cc"] is None
    assert "Bcc" not in received["headers"]
    assert received["subject"] == 'GHL tags for "Open house"'
    assert received["message_id"] == message_id(KEY)
    assert "Post tags (1): Listing" in received["text"]
    assert received["text"].rstrip().endswith(f"socialbridge-id: {KEY}")

    [entry] = ledger_entries(store, connection)
    assert (entry.idempotency_key, entry.status, entry.attempts) == (KEY, WriteStatus.SENT, 1)
    assert entry.writeback_type == "post.tags_synced"
    assert entry.contact == CONTACT
    assert entry.tags == ["Listing"]
    assert entry.record == {"contact_email": CONTACT, "title": "Open house"}


def test_a_write_the_ledger_says_sent_is_not_sent_again(
    connector: CRMConnector, server: MailSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    connector.write(tags_synced())
    with caplog.at_level(logging.INFO, logger="crm.ixact"):
        connector.write(tags_synced())

    assert len(server.messages()) == 1
    [line] = [entry for entry in logged(caplog) if entry["event"] == "crm.write"]
    assert line["outcome"] == "already_sent"
    assert line["message_id"] == message_id(KEY)


def test_statistics_go_to_the_event_contact_or_else_the_stats_contact(
    store: Store,
    connection: ConnectionRecord,
    server: MailSandbox,
    certificate: tuple[Path, Path],
) -> None:
    settings = settings_for(server, certificate, stats_contact_email="office@example.com")
    connector = build(store, connection, settings)
    connector.write(statistics())
    connector.write(statistics(CONTACT, key="evt_4.location.statistics_synced"))

    first, second = server.messages()
    assert first["to"] == "office@example.com"
    assert first["subject"] == "GHL statistics 2026-11-16 to 2026-11-22"
    assert second["to"] == CONTACT
    assert {entry.contact for entry in ledger_entries(store, connection)} == {
        "office@example.com",
        CONTACT,
    }


def test_a_write_without_a_contact_is_refused_before_anything_is_recorded_or_sent(
    connector: CRMConnector, server: MailSandbox, store: Store, connection: ConnectionRecord
) -> None:
    with pytest.raises(PermanentError) as caught:
        connector.write(tags_synced(contact=None))
    assert "data.record.contact_email is missing" in caught.value.message

    with pytest.raises(PermanentError) as caught:
        connector.write(statistics())
    assert "stats_contact_email" in caught.value.message

    with pytest.raises(PermanentError) as caught:
        connector.write(tags_synced(contact="Ann <ann@example.com>"))
    assert "data.record.contact_email 'Ann <ann@example.com>' is not a plain email" in str(
        caught.value
    )

    assert server.messages() == []
    assert ledger_entries(store, connection) == []


# --- the mail server's answers --------------------------------------------------------------


def test_421_first_then_the_retry_delivers_one_message(
    connector: CRMConnector, server: MailSandbox, store: Store, connection: ConnectionRecord
) -> None:
    server.add_fault(kind="reply", code=421)

    with pytest.raises(RetryableError) as caught:
        connector.write(tags_synced())
    assert "asked to try again later (send): 421 4.3.2" in caught.value.message
    [entry] = ledger_entries(store, connection)
    assert (entry.status, entry.attempts) == (WriteStatus.SENDING, 1)
    assert server.messages() == []

    connector.write(tags_synced())

    [received] = server.messages()
    assert received["message_id"] == message_id(KEY)
    [entry] = ledger_entries(store, connection)
    assert (entry.status, entry.attempts) == (WriteStatus.SENT, 2)


def test_a_server_that_hangs_up_after_its_250_got_the_message_once(
    connector: CRMConnector, server: MailSandbox, store: Store, connection: ConnectionRecord
) -> None:
    server.add_fault(kind="close_after_250")

    connector.write(tags_synced())  # the QUIT that follows finds no server: still success
    connector.write(tags_synced())  # a redelivered event: the ledger says sent

    assert len(server.messages()) == 1
    [entry] = ledger_entries(store, connection)
    assert entry.status == WriteStatus.SENT


def test_a_server_that_keeps_the_message_but_never_answers_leaves_the_documented_window(
    store: Store,
    connection: ConnectionRecord,
    server: MailSandbox,
    certificate: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(server, certificate)
    impatient = build(store, connection, settings, timeout=SHORT_TIMEOUT)
    server.add_fault(kind="no_answer")

    with caplog.at_level(logging.INFO, logger="crm.ixact"):
        with pytest.raises(RetryableError, match="stopped answering"):
            impatient.write(tags_synced())
        [entry] = ledger_entries(store, connection)
        assert (entry.status, entry.attempts) == (WriteStatus.SENDING, 1)

        # The retry, by a connector built anew as a worker builds one for each attempt.
        retry = build(store, connection, settings)
        retry.write(tags_synced())  # one more copy, with the same Message-ID
        retry.write(tags_synced())  # and no more after the server's 250

    copies = server.messages()
    assert len(copies) == 2
    assert {copy["message_id"] for copy in copies} == {message_id(KEY)}
    assert all(copy["envelope_to"] == [NOTES] for copy in copies)
    [entry] = ledger_entries(store, connection)
    assert (entry.status, entry.attempts) == (WriteStatus.SENT, 2)
    events = [(line["event"], line.get("outcome")) for line in logged(caplog)]
    assert events == [
        ("crm.write", "retryable"),
        ("ixact.resend_window", None),
        ("crm.write", "delivered"),
        ("crm.write", "already_sent"),
    ]


def test_a_refused_login_is_an_auth_error_and_sends_nothing(
    store: Store,
    connection: ConnectionRecord,
    server: MailSandbox,
    certificate: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "wrong-pw-0d41"
    connector = build(store, connection, settings_for(server, certificate, smtp_password=wrong))

    with caplog.at_level(logging.INFO, logger="crm.ixact"), pytest.raises(AuthError) as caught:
        connector.write(tags_synced())

    assert "535" in caught.value.message
    assert "check smtp_user and smtp_password" in caught.value.message
    assert server.messages() == []
    [line] = logged(caplog)
    assert line["outcome"] == "refused_credentials"
    assert wrong not in json.dumps(line)
    assert wrong not in str(caught.value)


def test_a_535_from_the_server_is_an_auth_error_and_the_next_session_delivers(
    connector: CRMConnector, server: MailSandbox, store: Store, connection: ConnectionRecord
) -> None:
    server.add_fault(kind="auth_fail")

    with pytest.raises(AuthError) as caught:
        connector.write(tags_synced())
    assert "refused the login of agent@example.com: 535" in caught.value.message
    assert server.messages() == []

    connector.write(tags_synced())  # once the connection is resumed, say

    assert len(server.messages()) == 1
    [entry] = ledger_entries(store, connection)
    assert (entry.status, entry.attempts) == (WriteStatus.SENT, 2)


def test_check_really_logs_in(connector: CRMConnector, server: MailSandbox) -> None:
    server.add_fault(kind="auth_fail")

    with pytest.raises(AuthError, match="535"):
        connector.check()


def test_a_550_is_permanent_and_carries_the_server_text(
    connector: CRMConnector, server: MailSandbox, store: Store, connection: ConnectionRecord
) -> None:
    server.add_fault(kind="reply", code=550, message="5.7.1 sender not authorized")

    with pytest.raises(PermanentError) as caught:
        connector.write(tags_synced())

    assert "refused the message (send): 550 5.7.1 sender not authorized" in caught.value.message
    assert server.messages() == []
    [entry] = ledger_entries(store, connection)
    assert entry.status == WriteStatus.SENDING


def test_a_certificate_not_signed_by_the_ca_file_is_refused(
    store: Store, connection: ConnectionRecord, server: MailSandbox, tmp_path: Path
) -> None:
    other_ca, _ = make_self_signed(tmp_path)
    connector = build(
        store, connection, settings_for(server, (other_ca, other_ca), smtp_ca_file=str(other_ca))
    )

    with pytest.raises(PermanentError) as caught:
        connector.write(tags_synced())

    assert "certificate is not trusted" in caught.value.message
    assert "smtp_ca_file" in caught.value.message
    assert server.messages() == []


def test_starttls_that_the_server_does_not_offer_is_never_skipped(
    store: Store, connection: ConnectionRecord, certificate: tuple[Path, Path]
) -> None:
    with MailSandbox(users={SENDER: PASSWORD}) as plain:
        connector = build(store, connection, settings_for(plain, certificate))
        with pytest.raises(PermanentError, match="does not offer STARTTLS"):
            connector.write(tags_synced())
        assert plain.messages() == []


def test_a_server_that_is_not_there_is_retryable(
    store: Store, connection: ConnectionRecord
) -> None:
    settings = {"smtp_host": "127.0.0.1", "smtp_port": closed_port(), "sender": SENDER}
    connector = build(store, connection, settings)

    with pytest.raises(RetryableError, match="is unreachable"):
        connector.write(tags_synced())


# --- the other two modes --------------------------------------------------------------------


def test_tls_from_the_first_byte(
    store: Store, connection: ConnectionRecord, certificate: tuple[Path, Path]
) -> None:
    context = server_tls_context(*certificate)
    with MailSandbox(tls_context=context, implicit_tls=True) as server:
        settings = {
            "smtp_host": "127.0.0.1",
            "smtp_port": server.smtp_port,
            "smtp_security": "tls",
            "smtp_ca_file": str(certificate[0]),
            "sender": SENDER,
        }
        build(store, connection, settings).write(tags_synced())

        [received] = server.messages()
        assert (received["envelope_to"], received["tls"]) == ([NOTES], True)


def test_no_encryption_on_loopback_with_a_login(store: Store, connection: ConnectionRecord) -> None:
    with MailSandbox(require_auth=True, users={SENDER: PASSWORD}) as server:
        settings = {
            "smtp_host": "127.0.0.1",
            "smtp_port": server.smtp_port,
            "smtp_security": "none",
            "smtp_user": SENDER,
            "smtp_password": PASSWORD,
            "sender": SENDER,
        }
        build(store, connection, settings).write(tags_synced())

        [received] = server.messages()
        assert (received["auth_user"], received["tls"]) == (SENDER, False)


# --- check, preview, mapping, logs ----------------------------------------------------------


def test_check_logs_in_and_says_where_mail_goes(
    connector: CRMConnector, server: MailSandbox
) -> None:
    said = connector.check()

    assert said.startswith(f"SMTP server smtp://127.0.0.1:{server.smtp_port} answered in ")
    assert "STARTTLS, private CA, login agent@example.com" in said
    assert f"from {SENDER} to {NOTES} only" in said
    assert server.messages() == []


def test_check_with_a_wrong_password_is_an_auth_error(
    store: Store,
    connection: ConnectionRecord,
    server: MailSandbox,
    certificate: tuple[Path, Path],
) -> None:
    connector = build(store, connection, settings_for(server, certificate, smtp_password="no"))
    with pytest.raises(AuthError, match="535"):
        connector.check()


def test_preview_shows_the_whole_email_and_its_envelope_and_sends_nothing(
    connector: CRMConnector, server: MailSandbox, store: Store, connection: ConnectionRecord
) -> None:
    [request] = connector.preview(tags_synced(title="Open house"))

    assert request.method == "SMTP"
    assert request.url == f"smtp://127.0.0.1:{server.smtp_port}"
    assert request.headers["From"] == SENDER
    assert request.headers["To"] == CONTACT
    assert request.headers["Subject"] == 'GHL tags for "Open house"'
    assert request.headers["Message-ID"] == message_id(KEY)
    assert "Cc" not in request.headers
    assert f"MAIL FROM:<{SENDER}> RCPT TO:<{NOTES}> only" in request.purpose
    assert request.body.startswith('HighLevel (GHL) tags for the post "Open house".\n')
    assert request.body.endswith(f"socialbridge-id: {KEY}\n")
    assert PASSWORD not in repr(request)
    assert server.messages() == []
    assert ledger_entries(store, connection) == []


def test_preview_refuses_what_write_would_refuse(connector: CRMConnector) -> None:
    with pytest.raises(PermanentError, match=r"data\.record\.contact_email is missing"):
        connector.preview(tags_synced(contact=None))


def outbound(yaml: str) -> Mapping[str, Mapping[str, FieldSpec]]:
    return load_mapping(yaml, outbound_fields=KIND.capabilities.outbound_fields).outbound


def test_a_mapping_sets_the_subject_and_body_and_the_reference_is_kept(
    store: Store,
    connection: ConnectionRecord,
    server: MailSandbox,
    certificate: tuple[Path, Path],
) -> None:
    yaml = """\
version: 1
outbound:
  post.tags_synced:
    Subject: {template: "Tags of {{ post_id }}"}
    Body: {template: "Tagged {{ post_tags | map(attribute='name') | join(', ') }}"}
"""
    connector = build(store, connection, settings_for(server, certificate), outbound=outbound(yaml))
    connector.write(tags_synced())

    [received] = server.messages()
    assert received["subject"] == "Tags of crm-post-1"
    assert received["to"] == CONTACT
    assert received["text"] == f"Tagged Listing\n\nsocialbridge-id: {KEY}\n"
    # The ledger keeps the tags the write is about, whatever the mapping wrote.
    [entry] = ledger_entries(store, connection)
    assert entry.tags == ["Listing"]


def test_a_mapped_subject_that_is_not_text_is_refused(
    store: Store,
    connection: ConnectionRecord,
    server: MailSandbox,
    certificate: tuple[Path, Path],
) -> None:
    yaml = """\
version: 1
outbound:
  post.tags_synced:
    Subject: {path: "$.post_tags"}
"""
    connector = build(store, connection, settings_for(server, certificate), outbound=outbound(yaml))
    with pytest.raises(PermanentError, match="the mapping's Subject must be text, got list"):
        connector.write(tags_synced())
    assert server.messages() == []


def test_no_log_line_holds_the_password(
    connector: CRMConnector, server: MailSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    server.add_fault(kind="reply", code=451, command="MAIL")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(RetryableError):
            connector.write(tags_synced())
        connector.write(tags_synced())
        connector.check()

    lines = [json.loads(JsonFormatter().format(record)) for record in caplog.records]
    outcomes = [line["outcome"] for line in lines if line["event"] == "crm.write"]
    assert outcomes == ["retryable", "delivered"]
    assert all(PASSWORD not in json.dumps(line) for line in lines)
