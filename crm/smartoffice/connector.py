"""`SmartOfficeConnector`: each write-back becomes one SmartPad on a SmartOffice contact.

A write goes to the contact ``record.contact_id`` of the event (for statistics, that or else
the connection's ``stats_contact_id`` setting; a mapping's ``ContactID`` wins over both). Its
``Keywords`` and ``Note`` are `crm.smartoffice.texts`' defaults, replaced field by field by
the mapping's outbound part for the write-back's type; the Note then always ends with the
marker line ``socialbridge-id: <idempotency key>``.

A write is idempotent on that marker, whatever happened to an earlier attempt:

    1. search   the contact's SmartPads whose Note contains the marker
                -> one holds it exactly: the write is already there; done
    2. insert   the SmartPad -> SmartOffice answers its id with _status="inserted"; done

So a write whose answer was lost (a timeout after SmartOffice stored it, a worker killed)
is found by the next attempt's search instead of being stored twice. When the insert's
answer has no error but no inserted SmartPad either (an answer we do not understand), the
connector searches once more instead of guessing: found, the write is done; not found, a
PermanentError says the answer was not understood. Retrying then could only repeat an insert
whose outcome this SmartOffice does not report, so the event stops for a person to look at.

Errors are `crm.smartoffice.answers`' mapping of SmartOffice's codes and HTTP statuses;
network errors and timeouts are RetryableError. Every request and answer is logged
(SmartOffice asks integrators to keep them): ``so.request`` and ``so.answer``, with the XML
(its first 4 KiB) built from masked credentials and every secret value removed; each write
ends with one ``crm.write`` line. The URL may hold a secret of its own: logs and messages name
only its origin.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from xml.etree.ElementTree import Element

import httpx
from marshmallow import ValidationError

from crm.connector import OutgoingRequest, WriteBack
from crm.outbound import mapped_fields, refused
from crm.smartoffice.answers import SYSTEM, Answer, read_answer
from crm.smartoffice.requests import (
    CONTENT_TYPE,
    SmartPad,
    get_system_time,
    insert_smartpad,
    search_smartpad,
    to_bytes,
)
from crm.smartoffice.settings import CONTACT_ID, MASK, Credentials
from crm.smartoffice.texts import (
    default_text,
    fit_keywords,
    holds_marker,
    keywords_of,
    with_marker,
)
from crm.write_outcomes import failure_outcome
from schemas.writebacks import STATISTICS_SYNCED, WRITEBACK_SCHEMAS
from socialbridge.errors import AuthError, IntegrationError, PermanentError, RetryableError
from socialbridge.httputil import USER_AGENT
from socialbridge.logs import get_logger

if TYPE_CHECKING:
    from mappings import FieldSpec

log = get_logger(__name__)

LOGGED_XML_MAX = 4096
SCRUBBED_MIN = 4
OUTBOUND_FIELDS = ("ContactID", "Keywords", "Note")


@dataclass(frozen=True)
class _Document:
    """One request to send: the real body, and the same document with secrets masked."""

    purpose: str
    body: bytes
    shown: str


@dataclass(frozen=True)
class _Plan:
    """What one write sends: the search for an earlier copy, then the insert."""

    contact_id: str
    search: _Document
    insert: _Document


class SmartOfficeConnector:
    """Implements `crm.connector.CRMConnector` over an injected ``httpx.Client``.

    ``outbound`` is the mapping's outbound part (write-back type -> field -> spec). Raises
    ValueError when the URL is not http(s).
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        url: str,
        credentials: Credentials,
        stats_contact_id: str | None = None,
        outbound: Mapping[str, Mapping[str, FieldSpec]] | None = None,
    ) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            parsed = httpx.URL()
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("CRM URL: expected an http:// or https:// URL")
        self._http = http
        self._url = parsed
        self._origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
        self._credentials = credentials
        self._shown_credentials = credentials.masked()
        self._stats_contact_id = stats_contact_id or None
        self._outbound = outbound or {}

    # --- the protocol ---------------------------------------------------------------------

    def write(self, writeback: WriteBack) -> None:
        """Store the write-back as one SmartPad unless an earlier attempt already did."""
        fields: dict[str, Any] = {
            "type": writeback.type,
            "idempotency_key": writeback.idempotency_key,
            "crm": self._origin,
        }
        try:
            plan = self._plan(writeback)
            fields["contact_id"] = plan.contact_id
            existing = self._stored(self._send(plan.search)[0], writeback.idempotency_key)
            if existing is not None:
                log.info("crm.write", outcome="already_stored", smartpad=existing, **fields)
                return
            smartpad = _inserted(self._send(plan.insert)[0])
            if smartpad is None:
                smartpad = self._verify_insert(plan, writeback.idempotency_key)
        except IntegrationError as exc:
            log.warning("crm.write", outcome=failure_outcome(exc), error=exc.message, **fields)
            raise
        log.info("crm.write", outcome="delivered", smartpad=smartpad, **fields)

    def preview(self, writeback: WriteBack) -> list[OutgoingRequest]:
        """The search and the insert ``write`` would send, secrets shown as ``***``."""
        plan = self._plan(writeback)
        return [
            OutgoingRequest(
                method="POST",
                url=self._shown_url(),
                headers=self._headers(self._shown_credentials),
                body=document.shown,
                purpose=purpose,
            )
            for document, purpose in (
                (plan.search, "look for a SmartPad an earlier attempt stored"),
                (plan.insert, "insert the SmartPad (only when the search finds none)"),
            )
        ]

    def check(self) -> str:
        """Ask SmartOffice for its time: proves the URL, the credentials and the XML Engine."""
        answer, elapsed = self._send(self._document("check", get_system_time))
        server_time = answer.method_result("GetSystemTime") or answer.systime
        said = f"server time {server_time}" if server_time else "no server time given"
        return (
            f"SmartOffice at {self._origin} answered in {elapsed} ms: {said} "
            f"({self._credentials.describe()})"
        )

    def close(self) -> None:
        """Close the HTTP client this connector was given."""
        self._http.close()

    # --- building a write -----------------------------------------------------------------

    def _plan(self, writeback: WriteBack) -> _Plan:
        key = writeback.idempotency_key
        # The key ends the Note's marker line and is searched for: one printable word.
        if not key or not (key.isascii() and key.isprintable()) or any(c.isspace() for c in key):
            raise refused("the idempotency key must be printable ASCII without spaces")
        schema = WRITEBACK_SCHEMAS.get(writeback.type)
        if schema is None:
            raise refused(f"SmartOffice takes no write-back of type {writeback.type!r}")
        try:
            value = schema.load(writeback.data)
        except ValidationError as exc:
            raise refused(f"invalid {writeback.type}: {exc.messages}") from exc
        text = default_text(value)
        mapped = self._mapped(writeback)
        keywords = _keywords(mapped.get("Keywords"), text.keywords)
        note = _note(mapped.get("Note"), text.note)
        contact_id = self._contact(writeback, mapped.get("ContactID"))
        pad = SmartPad(contact_id=contact_id, keywords=keywords, note=with_marker(note, key))
        return _Plan(
            contact_id=contact_id,
            search=self._document(
                "search",
                lambda credentials: search_smartpad(
                    credentials, contact_id=contact_id, idempotency_key=key, trace=f"{key}/search"
                ),
            ),
            insert=self._document(
                "insert",
                lambda credentials: insert_smartpad(credentials, pad, trace=f"{key}/insert"),
            ),
        )

    def _mapped(self, writeback: WriteBack) -> dict[str, Any]:
        return mapped_fields(
            self._outbound, writeback, allowed=OUTBOUND_FIELDS, target="a SmartPad"
        )

    def _contact(self, writeback: WriteBack, mapped: Any) -> str:
        if mapped is not None:
            source, contact = "the mapping's ContactID", _scalar("ContactID", mapped)
        elif writeback.record.get("contact_id"):
            source, contact = "data.record.contact_id", str(writeback.record["contact_id"])
        elif writeback.type == STATISTICS_SYNCED and self._stats_contact_id:
            source, contact = "the stats_contact_id setting", self._stats_contact_id
        else:
            where = (
                " (or set the connection's stats_contact_id setting)"
                if writeback.type == STATISTICS_SYNCED
                else ""
            )
            raise refused(
                "data.record.contact_id is missing: SmartOffice needs the contact the "
                f"SmartPad belongs to{where}"
            )
        contact = contact.strip()
        if not CONTACT_ID.fullmatch(contact):
            raise refused(f"{source} {contact!r} is not a SmartOffice contact id (Contact.<n>.<n>)")
        return contact

    def _document(self, purpose: str, build: Callable[[Credentials], Element]) -> _Document:
        return _Document(
            purpose=purpose,
            body=to_bytes(build(self._credentials)),
            shown=to_bytes(build(self._shown_credentials)).decode("utf-8"),
        )

    # --- sending --------------------------------------------------------------------------

    def _send(self, document: _Document) -> tuple[Answer, int]:
        """POST one document and read its answer; both are logged. Returns the elapsed ms."""
        fields: dict[str, Any] = {"purpose": document.purpose, "crm": self._origin}
        log.info("so.request", xml=_bounded(self._scrub(document.shown)), **fields)
        started = time.perf_counter()
        try:
            response = self._http.post(
                self._url, content=document.body, headers=self._headers(self._credentials)
            )
        except httpx.TimeoutException as exc:
            log.warning("so.answer", outcome="timeout", elapsed_ms=_ms_since(started), **fields)
            raise RetryableError(
                f"SmartOffice at {self._origin} did not answer in time ({type(exc).__name__})",
                system=SYSTEM,
            ) from exc
        except httpx.RequestError as exc:
            log.warning("so.answer", outcome="network", elapsed_ms=_ms_since(started), **fields)
            raise RetryableError(
                f"SmartOffice at {self._origin} is unreachable: {str(exc) or type(exc).__name__}",
                system=SYSTEM,
            ) from exc
        elapsed = _ms_since(started)
        log.info(
            "so.answer",
            status=response.status_code,
            elapsed_ms=elapsed,
            xml=_bounded(self._scrub(response.content.decode("utf-8", "replace"))),
            **fields,
        )
        try:
            return read_answer(response), elapsed
        except AuthError as exc:
            raise AuthError(
                f"{exc.message} ({self._credentials.refusal_hint()})",
                system=SYSTEM,
                status=exc.status,
                trace_id=exc.trace_id,
            ) from exc

    def _stored(self, answer: Answer, idempotency_key: str) -> str | None:
        """The id of a SmartPad the search found that holds this write's marker, if any."""
        for pad in answer.objects("search", "SmartPad"):
            note = pad.find("Note")
            # Without its Note the match cannot be checked: SmartOffice's word is taken,
            # since storing a write twice is the one thing the search is there to prevent.
            if note is None or holds_marker(note.text or "", idempotency_key):
                return pad.get("id")
        return None

    def _verify_insert(self, plan: _Plan, idempotency_key: str) -> str:
        answer, _ = self._send(plan.search)
        found = self._stored(answer, idempotency_key)
        if found is not None:
            log.warning("so.insert_unconfirmed", outcome="found_by_search", smartpad=found)
            return found
        raise PermanentError(
            "SmartOffice's answer to the SmartPad insert was not understood (no SmartPad with "
            f'_status="inserted"), and no SmartPad of this write is found on {plan.contact_id}',
            system=SYSTEM,
            status=answer.http_status,
            trace_id=answer.trace,
        )

    def _headers(self, credentials: Credentials) -> dict[str, str]:
        return {
            "content-type": CONTENT_TYPE,
            "accept": "application/xml, text/xml",
            "user-agent": USER_AGENT,
            **credentials.http_headers(),
        }

    def _scrub(self, text: str) -> str:
        """``text`` for a log: every secret value replaced, wherever it appears.

        The documents are built with masked credentials already; this catches a secret
        quoted elsewhere (a tag name, an error message echoing the login). Values shorter
        than `SCRUBBED_MIN` cannot be told from ordinary text and are left alone.
        """
        for secret in self._credentials.secrets:
            if len(secret) >= SCRUBBED_MIN:
                text = text.replace(secret, MASK)
        return text

    def _shown_url(self) -> str:
        """The URL with its user info and its query's values masked (a token may hide there)."""
        shown = self._url.copy_with(
            userinfo=MASK.encode() if self._url.userinfo else b"", query=None, fragment=None
        )
        if not self._url.query:
            return str(shown)
        names = dict.fromkeys(name for name, _ in self._url.params.multi_items())
        return f"{shown}?" + "&".join(f"{quote(name)}={MASK}" for name in names)


def _inserted(answer: Answer) -> str | None:
    for pad in answer.objects("insert", "SmartPad"):
        if pad.get("_status") == "inserted":
            return pad.get("id")
    return None


def _keywords(mapped: Any, default: str) -> str:
    if mapped is None:
        return default
    if isinstance(mapped, list | tuple):
        return keywords_of(_scalar("Keywords", name) for name in mapped)
    return fit_keywords(_scalar("Keywords", mapped))


def _note(mapped: Any, default: str) -> str:
    return default if mapped is None else _scalar("Note", mapped)


def _scalar(name: str, value: Any) -> str:
    """A mapped value as text; a mapping that yields an object or a list here is refused."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise refused(f"the mapping's {name} must be text, got {type(value).__name__}")
    return value if isinstance(value, str) else str(value)


def _bounded(text: str) -> str:
    return text if len(text) <= LOGGED_XML_MAX else text[:LOGGED_XML_MAX] + "…"


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
