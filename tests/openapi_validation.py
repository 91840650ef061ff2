"""Check requests and responses against HighLevel's official OpenAPI files (openapi-core).

    from tests.openapi_validation import validate_request, validate_response

    validate_request("GET", "http://127.0.0.1:5000/social-media-posting/loc/tags?limit=10",
                     {"Authorization": "Bearer x", "Version": "2021-07-28"}, None)
    validate_response("GET", url, 200, {"Content-Type": "application/json"}, body_bytes)

Both raise `SpecViolation` (an AssertionError, so pytest shows it well) listing every problem.
The file is chosen by the `Version` header: `v3` -> `apps/v3/social-planner-v3.json`, anything
else -> `apps/social-media-posting.json` (which then rejects a missing or unknown Version).
Only the path of a URL counts: the sandbox runs on 127.0.0.1, the spec's server is GHL's.

Deliberately free of httpx and Flask so that the client tests, the sandbox tests and the
functional tests can all use it with what they have at hand (bytes, str, dict or None bodies;
any mapping of headers).

Two facts about the vendored files shape this module:
- They do not pass openapi-spec-validator (their `http` security schemes also carry `name`
  and `in`), so the spec check of openapi-core is switched off; requests and responses are
  still checked in full.
- The v3 file refers to `../common/common-schemas.json`, which from `apps/v3/` is a file that
  does not exist upstream; it is served from `apps/v3/common/common-schemas.json` (see
  `sandbox/ghl_openapi/SOURCES.md`). Only files under the vendored folder are ever read: a
  reference elsewhere (or to the network) is an error.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

from sandbox.ghl.spec import RESOLVERS, read_vendored
from sandbox.ghl.spec import SPEC_DIR as SPEC_ROOT

SPEC_FILES = {
    "2021-07-28": "apps/social-media-posting.json",
    "v3": "apps/v3/social-planner-v3.json",
}
DEFAULT_VERSION = "2021-07-28"

# Answers GHL really sends but the files do not list per operation: their bodies must still be
# GHL's error envelope `{statusCode, message, error}` (a proxy may answer 5xx with HTML).
UNDOCUMENTED_ERROR_STATUSES = frozenset({403, 404, 408, 429})


class SpecViolation(AssertionError):
    """A request or response does not conform to the official OpenAPI file."""


class _Request:
    """openapi-core's Request protocol, built from plain values."""

    def __init__(
        self,
        host_url: str,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> None:
        self.host_url = host_url
        self.method = method.lower()
        self.path = path
        self.body = body
        header_values = Headers(list(headers.items()))
        self.content_type = header_values.get("Content-Type", "application/json").lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(query)), header=header_values
        )


class _Response:
    """openapi-core's Response protocol, built from plain values."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes | None) -> None:
        self.status_code = status
        self.headers = Headers(list(headers.items()))
        self.content_type = self.headers.get("Content-Type", "application/json").lower()
        self.data = body


def _body_bytes(body: bytes | str | Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def _shorten(text: str, limit: int = 300) -> str:
    # Keep both ends: jsonschema puts the offending value first and the verdict last.
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} … {text[-half:]}"


def _schema_problem(error: Any) -> str:
    """A jsonschema ValidationError as `at results/tags/0: 'x' is not of type 'object'`."""
    where = "/".join(str(part) for part in error.absolute_path) or "(body)"
    return f"at {where}: {_shorten(error.message)}"


def _describe(error: BaseException) -> str:
    """One readable line per problem, including the JSON-schema details openapi-core hides."""
    if hasattr(error, "absolute_path"):  # a jsonschema ValidationError
        return _schema_problem(error)
    lines = [f"{type(error).__name__}: {_shorten(str(error))}"]
    for schema_error in getattr(error.__cause__, "schema_errors", None) or ():
        lines.append(f"  {_schema_problem(schema_error)}")
    return "\n".join(lines)


class SpecValidator:
    """Validates against one vendored OpenAPI file, e.g. `SpecValidator.for_version("v3")`."""

    def __init__(self, spec_file: str = SPEC_FILES[DEFAULT_VERSION]) -> None:
        path = SPEC_ROOT / spec_file
        self.spec_file = spec_file
        self.data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        schema_path = SchemaPath.from_dict(
            self.data,
            base_uri=path.as_uri(),
            handlers=RESOLVERS,
        )
        self.app = OpenAPI(schema_path, config=Config(spec_validator_cls=None))
        self.server_url = self.data["servers"][0]["url"].rstrip("/")
        self._error_envelope = self._build_error_envelope(path)

    @classmethod
    @functools.cache
    def for_version(cls, version: str) -> SpecValidator:
        """The (cached) validator of the file GHL uses for `Version: <version>`."""
        return cls(SPEC_FILES.get(version, SPEC_FILES[DEFAULT_VERSION]))

    def _build_error_envelope(self, spec_path: Path) -> OAS30Validator:
        """GHL's error body: any DTO of the common schemas that file refers to, with a message."""
        common = read_vendored((spec_path.parent / "../common/common-schemas.json").as_uri())
        dtos = list(common["components"]["schemas"].values())
        schema = {"type": "object", "required": ["statusCode", "message"], "anyOf": dtos}
        return OAS30Validator(schema)

    def _request(self, method: str, url: str, headers: Mapping[str, str], body: Any) -> _Request:
        parts = urlsplit(url)
        return _Request(
            self.server_url,
            method,
            parts.path,
            parse_qsl(parts.query, keep_blank_values=True),
            headers,
            _body_bytes(body),
        )

    def validate_request(
        self, method: str, url: str, headers: Mapping[str, str], body: Any = None
    ) -> None:
        """Raise SpecViolation unless the request conforms (path, parameters, security, body)."""
        request = self._request(method, url, headers, body)
        # Validation only (no unmarshalling): it is far faster and reports the same problems.
        errors = list(self.app.iter_request_errors(request))
        if errors:
            raise SpecViolation(self._report("request", method, url, errors))

    def validate_response(
        self,
        method: str,
        url: str,
        status: int,
        headers: Mapping[str, str],
        body: Any,
        *,
        request_headers: Mapping[str, str] | None = None,
    ) -> None:
        """Raise SpecViolation unless the answer is one the spec allows for that request.

        Statuses the files leave out but GHL sends (403, 404, 408, 429, 5xx) must carry GHL's
        error envelope; a 5xx may also be a non-JSON page from a proxy.
        """
        request = self._request(method, url, request_headers or {}, None)
        response = _Response(status, headers, _body_bytes(body))
        errors: list[BaseException] = list(self.app.iter_response_errors(request, response))
        undocumented = len(errors) == 1 and isinstance(errors[0], ResponseNotFound)
        if undocumented and (status in UNDOCUMENTED_ERROR_STATUSES or status >= 500):
            errors = self._envelope_errors(status, response)
        if errors:
            raise SpecViolation(self._report(f"response {status}", method, url, errors))

    def _envelope_errors(self, status: int, response: _Response) -> list[BaseException]:
        data = response.data or b""
        try:
            body = json.loads(data)
        except ValueError:
            if status >= 500:
                return []
            return [ValueError(f"HTTP {status} body is not JSON: {data[:80]!r}")]
        problems: list[BaseException] = list(self._error_envelope.iter_errors(body))
        if isinstance(body, dict) and body.get("statusCode") not in (None, status):
            problems.append(ValueError(f"statusCode {body['statusCode']} != HTTP {status}"))
        return problems

    def _report(self, what: str, method: str, url: str, errors: Iterable[BaseException]) -> str:
        details = "\n".join(_describe(error) for error in errors)
        return f"{method.upper()} {url}: {what} violates {self.spec_file}:\n{details}"


def _version_of(headers: Mapping[str, str] | None) -> str:
    for name, value in (headers or {}).items():
        if name.lower() == "version":
            return value
    return DEFAULT_VERSION


def validate_request(method: str, url: str, headers: Mapping[str, str], body: Any = None) -> None:
    """Validate a request against the file of its `Version` header; raise SpecViolation."""
    SpecValidator.for_version(_version_of(headers)).validate_request(method, url, headers, body)


def validate_response(
    method: str,
    url: str,
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    version: str = DEFAULT_VERSION,
    request_headers: Mapping[str, str] | None = None,
) -> None:
    """Validate a response against the file of `version` (or of `request_headers`' Version)."""
    if request_headers is not None:
        version = _version_of(request_headers) if _has_version(request_headers) else version
    SpecValidator.for_version(version).validate_response(
        method, url, status, headers, body, request_headers=request_headers
    )


def _has_version(headers: Mapping[str, str]) -> bool:
    return any(name.lower() == "version" for name in headers)
