"""What the sandbox mail server keeps of one received message, as JSON.

    kept = read_message(
        number=7, received_at="2026-12-01T10:00:00Z", envelope_from="agent@example.com",
        envelope_to=["notes@ixactcontact.com"], content=raw_bytes,
        auth_user="agent@example.com", tls=True,
    )
    kept["subject"], kept["text"], kept["headers"]["Message-ID"]

The fields: ``id``, ``received_at`` (UTC, ISO 8601), ``envelope_from`` and ``envelope_to``
(the SMTP envelope: who the server was asked to deliver to, which the headers need not say),
``from``, ``to``, ``cc``, ``subject`` and ``message_id`` (the decoded headers; null when
absent), ``text``, ``headers`` (every header by name, decoded; a name given more than once
has its values joined by a newline), ``auth_user`` (the login the session authenticated
with, never its password; null without AUTH), ``tls`` (whether the session had STARTTLS or
implicit TLS) and ``size`` (bytes of the message as received).

``text`` is what IXACT's email capture keeps: the text/plain body, or, for mail with only
an HTML body, that body's text without its markup. Line ends are ``\\n``.

A message the ``email`` package cannot fully read is still kept: a header it cannot decode
is shown as received, a body in an unknown charset is decoded as UTF-8 with replacements.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterable
from email.message import EmailMessage, Message
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any

KeptMessage = dict[str, Any]
"""One message as ``GET /messages`` shows it (see the module's docstring)."""


def read_message(
    *,
    number: int,
    received_at: str,
    envelope_from: str,
    envelope_to: Iterable[str],
    content: bytes,
    auth_user: str | None,
    tls: bool,
) -> KeptMessage:
    """The JSON record of one message received by the server."""
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    headers = _headers(parsed)
    return {
        "id": number,
        "received_at": received_at,
        "envelope_from": envelope_from,
        "envelope_to": list(envelope_to),
        "from": _header(headers, "From"),
        "to": _header(headers, "To"),
        "cc": _header(headers, "Cc"),
        "subject": _header(headers, "Subject"),
        "message_id": _header(headers, "Message-ID"),
        "text": _text_of(parsed),
        "headers": headers,
        "auth_user": auth_user,
        "tls": tls,
        "size": len(content),
    }


def addressed_to(message: KeptMessage, address: str) -> bool:
    """True when `address` is an envelope recipient or in the To or Cc header (any case)."""
    wanted = address.strip().lower()
    listed = [message.get("to") or "", message.get("cc") or ""]
    in_headers = (found.lower() for _, found in getaddresses(listed))
    in_envelope = (recipient.lower() for recipient in message.get("envelope_to", []))
    return any(found == wanted for found in (*in_envelope, *in_headers))


def _headers(parsed: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    spelled: dict[str, str] = {}  # lower-case name -> the name as first received
    for name, raw in parsed.raw_items():
        try:
            value = str(parsed.policy.header_fetch_parse(name, raw))
        except Exception:  # a header so broken that its parser raises: show it as received
            value = " ".join(str(raw).split())
        key = spelled.setdefault(name.lower(), name)
        headers[key] = f"{headers[key]}\n{value}" if key in headers else value
    return headers


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _text_of(parsed: Message) -> str:
    if not isinstance(parsed, EmailMessage):
        return ""
    plain = parsed.get_body(preferencelist=("plain",))
    if plain is not None:
        return _normal_lines(_content(plain))
    html = parsed.get_body(preferencelist=("html",))
    if html is not None:
        return _normal_lines(html_text(_content(html)))
    return ""


def _content(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError):  # an unknown charset or a broken encoding
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _normal_lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _TextOnly(HTMLParser):
    """Collects the text of an HTML document: no markup, scripts or styles; a line break
    for each block element, so paragraphs stay apart."""

    BLOCKS = frozenset(
        {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}
    )
    HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The text of an HTML body: markup gone, entities decoded, blank runs squeezed."""
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text: list[str] = []
    for line in lines:
        if line or (text and text[-1]):
            text.append(line)
    return "\n".join(text).strip("\n")
