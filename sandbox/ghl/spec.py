"""Request validation against the vendored HighLevel OpenAPI file (Social Planner, 2021-07-28).

The sandbox checks every GHL request it receives against
`sandbox/ghl_openapi/apps/social-media-posting.json` with openapi-core, so a client that works
against the sandbox sends only what the official spec allows. Problems come back as short
strings (for the journal and for the `message` list of a 422 answer), never as exceptions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_DIR = Path(__file__).resolve().parent.parent / "ghl_openapi"
"""The vendored, unchanged copy of GoHighLevel/highlevel-api-docs (see its SOURCES.md)."""

SOCIAL_PLANNER_SPEC = SPEC_DIR / "apps" / "social-media-posting.json"
"""The Social Planner API file the sandbox is faithful to."""

API_VERSION = "2021-07-28"
"""The only value of the `Version` header that `social-media-posting.json` allows."""


@cache
def load_social_planner_spec() -> OpenAPI:
    """The parsed Social Planner spec, loaded once per process (parsing takes ~0.3 s)."""
    # The upstream file declares its bearer schemes with `in`/`name` keys that OpenAPI 3.0
    # does not allow for `type: http`, so the strict spec check would refuse the official file.
    # Requests and responses are still validated in full; only the meta-check is skipped.
    config = Config(spec_validator_cls=None)
    return OpenAPI.from_path(SOCIAL_PLANNER_SPEC, config=config)


def spec_server_url() -> str:
    """The server URL the spec declares (paths are matched against it, not our own host)."""
    servers: list[dict[str, str]] = json.loads(SOCIAL_PLANNER_SPEC.read_text("utf-8"))["servers"]
    return servers[0]["url"]


@dataclass
class SpecRequest:
    """A request in the shape openapi-core reads (its `Request` protocol).

    `host_url` is always the spec's own server, so the sandbox validates the same whether it
    listens on 127.0.0.1:random or anywhere else.
    """

    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None


class SpecValidator:
    """Validates raw HTTP requests against the Social Planner spec; safe to share by threads."""

    def __init__(self) -> None:
        self._api = load_social_planner_spec()
        self._host_url = spec_server_url()
        # openapi-core and its reference resolver keep lazy caches that are not documented as
        # thread-safe; validation takes a few milliseconds, so one lock costs little.
        self._lock = threading.Lock()

    def request_errors(
        self,
        *,
        method: str,
        path: str,
        query: Mapping[str, str] | Iterable[tuple[str, str]],
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
        content_type: str | None,
    ) -> list[str]:
        """Every way the request departs from the spec, as readable strings (empty: valid)."""
        request = SpecRequest(
            host_url=self._host_url,
            path=path,
            method=method.lower(),
            parameters=RequestParameters(
                query=ImmutableMultiDict(query),
                header=Headers(headers),
                cookie=ImmutableMultiDict(),
            ),
            content_type=(content_type or "").lower(),
            body=body,
        )
        with self._lock:
            errors = list(self._api.iter_request_errors(request))
        return [line for error in errors for line in describe(error)]


def describe(error: Exception) -> list[str]:
    """Readable lines for an openapi-core error: one per schema error it wraps, or one."""
    cause = error.__cause__
    schema_errors: Iterable[Any] = getattr(cause, "schema_errors", None) or ()
    details = [_schema_error_text(schema_error) for schema_error in schema_errors]
    name = getattr(error, "name", None)
    location = getattr(error, "location", None)
    if name is not None and location is not None:
        return [f"{location} parameter {name!r}: {detail}" for detail in details] or [_plain(error)]
    if details:
        return [f"body {detail}" for detail in details]
    if cause is not None and _plain(cause) not in _plain(error):
        return [f"{_plain(error)}: {_plain(cause)}"]
    return [_plain(error)]


def _schema_error_text(error: Any) -> str:
    where = ".".join(str(part) for part in getattr(error, "absolute_path", ()))
    message = str(getattr(error, "message", error))
    return f"{where}: {message}" if where else message


def _plain(error: BaseException) -> str:
    """The error's message, or its class name split into words when it has none."""
    text = str(error)
    if text:
        return text
    name = type(error).__name__
    return "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
