"""Reading SmartOffice's answers: the whole body, whatever the HTTP status.

`read_answer` parses the body with defusedxml (no DTD, no entities, no external references:
nothing in an answer is ever expanded or fetched) and raises the error it holds, or returns
the parsed `Answer`. SmartOffice names no HTTP status for its errors, so the body decides:

1. Every ``<error code="…">`` anywhere in a ``<response>`` (at the top, where 1001 and
   2001-2003 abort the whole request, or inside an object with ``_status="error"``) maps by
   its code (`error_for_code`):

       1-6 (system), 2003 (session)        RetryableError
       2002 (login), 10001 (access denied) AuthError
       1001, 1002, 2001, 2004-2009, 3xxx, 4xxx, 5xxx, 6xxx, 7xxx, 8xxx,
       and any code not listed             PermanentError "SmartOffice error <code>: <message>"

   When several errors come back, the one that decides is the one that leaves least to
   retrying: AuthError, then PermanentError, then RetryableError; the others are named after it.
2. A ``<response>`` whose trailing ``<_status>`` says ``error`` without any code: by HTTP
   status as below, a PermanentError when that says nothing.
3. A body that is not a SmartOffice answer (not XML, an HTML page, a DTD): by HTTP status.
   5xx, 408, 429 RetryableError (``Retry-After`` honoured); 401, 403 AuthError (the gateway
   refusing its keys: the vendor does not say how it answers them); anything else,
   2xx included, PermanentError quoting the start of the body.

``status`` on every error is the HTTP status; ``trace_id`` the ``trace`` attribute the answer
echoes (ours: the write's idempotency key and step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree
import httpx

from socialbridge.errors import AuthError, IntegrationError, PermanentError, RetryableError
from socialbridge.httputil import is_retryable_status, parse_retry_after

SYSTEM = "crm"
_MAX_MESSAGE = 300
_RETRYABLE_CODES = frozenset({1, 2, 3, 4, 5, 6, 2003})
_AUTH_CODES = frozenset({2002, 10001})
# Which error decides when an answer holds several: the one retrying cannot fix.
_SEVERITY: dict[type[IntegrationError], int] = {AuthError: 0, PermanentError: 1, RetryableError: 2}
# Parts of a search answer that echo our request rather than list results.
_ECHOED = frozenset({"object", "condition", "sort"})


@dataclass(frozen=True)
class Answer:
    """A SmartOffice answer without errors."""

    root: Element
    http_status: int

    @property
    def status(self) -> str | None:
        """The trailing ``<_status>`` (``OK``), when the answer has one."""
        return _child_text(self.root, "_status")

    @property
    def systime(self) -> str | None:
        """The server's time, ``CCYY-MM-DDThh:mm:ss`` without a zone, when given."""
        return _child_text(self.root, "_systime")

    @property
    def trace(self) -> str | None:
        return self.root.get("trace")

    def objects(self, operation: str, object_type: str) -> list[Element]:
        """The objects (elements with an ``id``) an operation's answer lists.

        Looks inside every ``<operation>`` of the answer, in transactions too, but not in the
        parts that echo the request (a search's ``<object>`` template and ``<condition>``).
        """
        found: list[Element] = []
        for answered in self.root.iter(operation):
            stack = list(answered)
            while stack:
                element = stack.pop(0)
                if element.tag in _ECHOED:
                    continue
                if element.tag == object_type and element.get("id"):
                    found.append(element)
                stack.extend(element)
        return found

    def method_result(self, name: str) -> str | None:
        """The text a ``<method><name/></method>`` call answered."""
        for method in self.root.iter("method"):
            result = method.find(name)
            if result is not None and result.text and result.text.strip():
                return result.text.strip()
        return None


def read_answer(response: httpx.Response) -> Answer:
    """The answer of ``response``, or raise the IntegrationError it holds (module docstring)."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    root = parse_xml(response.content)
    if root is None or root.tag != "response":
        raise _error_for_status(response, retry_after, trace_id=None)
    trace_id = root.get("trace")
    codes = [
        (element.get("code", "").strip(), _message(element.text)) for element in root.iter("error")
    ]
    if codes:
        raise _deciding(codes, status=status, trace_id=trace_id, retry_after=retry_after)
    if (_child_text(root, "_status") or "").lower() == "error" or not 200 <= status < 300:
        if is_retryable_status(status) or status in (401, 403):
            raise _error_for_status(response, retry_after, trace_id=trace_id)
        raise PermanentError(
            f"SmartOffice reported an error without a code (HTTP {status}): {_start_of(response)}",
            system=SYSTEM,
            status=status,
            trace_id=trace_id,
        )
    return Answer(root=root, http_status=status)


def parse_xml(body: bytes) -> Element | None:
    """``body`` parsed safely, or None when it is not XML or declares a DTD or entities.

    An HTML error page (``<!DOCTYPE html>``) lands here as None too: it is no answer of
    SmartOffice's, and its HTTP status says what happened.
    """
    try:
        root = defusedxml.ElementTree.fromstring(
            body, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except (ParseError, defusedxml.DefusedXmlException):
        return None
    return cast(Element, root)


def error_for_code(
    code: str,
    message: str,
    *,
    status: int | None,
    trace_id: str | None = None,
    retry_after: float | None = None,
) -> IntegrationError:
    """The error SmartOffice's ``<error code=…>`` stands for (module docstring)."""
    return _make(
        _kind_of(code),
        _describe(code, message),
        status=status,
        trace_id=trace_id,
        retry_after=retry_after,
    )


def _kind_of(code: str) -> type[IntegrationError]:
    number = int(code) if code.isdigit() else None
    if number in _RETRYABLE_CODES:
        return RetryableError
    if number in _AUTH_CODES:
        return AuthError
    return PermanentError


def _describe(code: str, message: str) -> str:
    return f"SmartOffice error {code or '(no code)'}: {message or '(no message)'}"


def _deciding(
    codes: list[tuple[str, str]],
    *,
    status: int,
    trace_id: str | None,
    retry_after: float | None,
) -> IntegrationError:
    """One error for all an answer holds: the most severe decides, the others are named."""
    ordered = sorted(codes, key=lambda pair: _SEVERITY[_kind_of(pair[0])])
    (code, message), others = ordered[0], ordered[1:]
    text = _describe(code, message)
    if others:
        also = "; ".join(f"{other or '(no code)'}: {words}" for other, words in others)
        text = _bounded(f"{text} (also: {also})")
    return _make(_kind_of(code), text, status=status, trace_id=trace_id, retry_after=retry_after)


def _make(
    kind: type[IntegrationError],
    text: str,
    *,
    status: int | None,
    trace_id: str | None,
    retry_after: float | None,
) -> IntegrationError:
    if kind is RetryableError:
        return RetryableError(
            text, system=SYSTEM, status=status, trace_id=trace_id, retry_after=retry_after
        )
    return kind(text, system=SYSTEM, status=status, trace_id=trace_id)


def _error_for_status(
    response: httpx.Response, retry_after: float | None, *, trace_id: str | None
) -> IntegrationError:
    status = response.status_code
    body = _start_of(response)
    if is_retryable_status(status):
        return RetryableError(
            f"SmartOffice answered HTTP {status}: {body}",
            system=SYSTEM,
            status=status,
            trace_id=trace_id,
            retry_after=retry_after,
        )
    if status in (401, 403):
        return AuthError(
            f"SmartOffice refused the request (HTTP {status}): {body}",
            system=SYSTEM,
            status=status,
            trace_id=trace_id,
        )
    if 300 <= status < 400:
        return PermanentError(
            f"SmartOffice answered a redirect; configure the final XML Engine URL ({body})",
            system=SYSTEM,
            status=status,
            trace_id=trace_id,
        )
    return PermanentError(
        f"the answer is not SmartOffice XML: {body}",
        system=SYSTEM,
        status=status,
        trace_id=trace_id,
    )


def _child_text(root: Element, tag: str) -> str | None:
    child = root.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _message(text: str | None) -> str:
    return _bounded(" ".join((text or "").split()))


def _start_of(response: httpx.Response) -> str:
    text = " ".join(response.content.decode("utf-8", "replace").split())
    return _bounded(text) or response.reason_phrase or f"HTTP {response.status_code}"


def _bounded(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"
