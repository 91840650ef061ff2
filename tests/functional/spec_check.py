"""Every exchange the sandbox GHL journaled, checked against the official OpenAPI files."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from tests.openapi_validation import SpecViolation, validate_request, validate_response

GHL = "https://services.leadconnectorhq.com"
# 429 and 5xx are real GHL answers (and injected by the tests) that the files do not declare.
DECLARED = {200, 201, 400, 401, 422}


def assert_journal_conforms(journal: Iterable[dict[str, Any]]) -> int:
    """Raise naming every non-conforming request or answer; return how many were checked."""
    problems: list[str] = []
    checked = 0
    for entry in journal:
        where = f"#{entry['id']} {entry['method']} {entry['path']}"
        if entry["spec_errors"]:
            problems.append(f"{where}: sandbox refused the request: {entry['spec_errors']}")
        query = f"?{urlencode(entry['query'])}" if entry["query"] else ""
        url = f"{GHL}{entry['path']}{query}"
        try:
            validate_request(entry["method"], url, entry["headers"], entry["body"])
            if entry["response_status"] in DECLARED:
                validate_response(
                    entry["method"],
                    url,
                    entry["response_status"],
                    entry["response_headers"],
                    entry["response_body"],
                    request_headers=entry["headers"],
                )
        except SpecViolation as exc:
            problems.append(f"{where}: {exc}")
        checked += 1
    assert not problems, "\n".join(problems)
    return checked
