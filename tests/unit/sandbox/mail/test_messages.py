"""What is kept of a message: decoded headers, and the text IXACT's email capture would keep."""

from __future__ import annotations

from email.message import EmailMessage

from sandbox.mail.messages import KeptMessage, addressed_to, html_text, read_message


def kept(content: bytes, envelope_to: tuple[str, ...] = ("notes@ixactcontact.com",)) -> KeptMessage:
    return read_message(
        number=1,
        received_at="2026-12-01T10:00:00.000Z",
        envelope_from="agent@example.com",
        envelope_to=envelope_to,
        content=content,
        auth_user=None,
        tls=False,
    )


def test_encoded_words_in_headers_are_decoded() -> None:
    content = (
        b"From: =?utf-8?q?Ag=C3=A9nt?= <agent@example.com>\r\n"
        b"To: avery@example.com\r\n"
        b"Subject: =?utf-8?b?R0hMIHRhZ3MgZm9yICLDiXTDqSI=?=\r\n"
        b"\r\n"
        b"body\r\n"
    )

    message = kept(content)

    assert message["subject"] == 'GHL tags for "Été"'
    assert message["from"] == "Agént <agent@example.com>"
    assert message["text"] == "body\n"
    assert message["size"] == len(content)


def test_a_header_given_twice_keeps_both_values() -> None:
    content = b"Received: from a\r\nreceived: from b\r\nSubject: s\r\n\r\nx\r\n"

    headers = kept(content)["headers"]

    assert headers["Received"] == "from a\nfrom b"
    assert "received" not in headers


def test_absent_headers_are_null() -> None:
    message = kept(b"Subject: only\r\n\r\nx\r\n")

    assert (message["from"], message["to"], message["cc"], message["message_id"]) == (
        None,
        None,
        None,
        None,
    )


def test_the_plain_part_of_an_alternative_is_the_text() -> None:
    message = EmailMessage()
    message["Subject"] = "both"
    message.set_content("plain words\n")
    message.add_alternative("<p>html words</p>", subtype="html")

    assert kept(message.as_bytes())["text"] == "plain words\n"


def test_html_only_mail_keeps_its_text_without_markup() -> None:
    message = EmailMessage()
    message["Subject"] = "html"
    message.set_content(
        "<html><head><style>p {color: red}</style><title>T</title></head><body>"
        "<p>Tags:&nbsp;<b>open-house</b> &amp; spring</p><script>alert(1)</script>"
        "<ul><li>one</li><li>two</li></ul></body></html>",
        subtype="html",
    )

    assert kept(message.as_bytes())["text"] == "Tags: open-house & spring\n\none\n\ntwo"


def test_html_text_squeezes_blank_runs() -> None:
    assert html_text("<div>a</div>\n\n\n<div>b<br>c</div>") == "a\n\nb\nc"


def test_a_body_in_an_unknown_charset_is_read_as_utf8() -> None:
    content = (
        b"Subject: odd\r\nContent-Type: text/plain; charset=x-unknown\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9 \xff\r\n"
    )

    assert kept(content)["text"] == "café \ufffd\n"


def test_a_body_that_is_not_text_has_no_text() -> None:
    content = b"Subject: bin\r\nContent-Type: application/octet-stream\r\n\r\nAAAA\r\n"

    assert kept(content)["text"] == ""


def test_a_message_that_is_not_mail_at_all_is_still_kept() -> None:
    message = kept(b"this is not a header line\r\n\r\nnor\r\n")

    assert message["id"] == 1
    assert message["subject"] is None


def test_addressed_to_reads_the_envelope_and_the_to_and_cc_headers() -> None:
    content = b"To: Avery <avery@example.com>, b@example.com\r\nCc: c@example.com\r\n\r\nx\r\n"
    message = kept(content, envelope_to=("notes@ixactcontact.com", "bcc@example.com"))

    assert addressed_to(message, "AVERY@example.com")
    assert addressed_to(message, "b@example.com")
    assert addressed_to(message, "c@example.com")
    assert addressed_to(message, "bcc@example.com")
    assert addressed_to(message, " notes@ixactcontact.com ")
    assert not addressed_to(message, "agent@example.com")
    assert not addressed_to(message, "example.com")
