"""Request validation against the vendored HighLevel OpenAPI files, one per API version.

The sandbox checks every GHL request it receives against the file of the version the request
speaks (its `Version` header), with openapi-core:

    Version: 2021-07-28   sandbox/ghl_openapi/apps/social-media-posting.json
    Version: v3           sandbox/ghl_openapi/apps/v3/social-planner-v3.json

so a client that works against the sandbox sends only what the official files allow. Problems
come back as short strings (for the journal and for the `message` list of a 422 answer), never
as exceptions.

The v3 file refers to `../common/common-schemas.json`, a path that does not exist upstream
from `apps/v3/`; it is read from `apps/v3/common/common-schemas.json` (see SOURCES.md). Only
files under the vendored folder are ever read: any other reference is an error.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema_path import SchemaPath
from jsonschema_path.handlers.utils import uri_to_path
from openapi_core import Config, OpenAPI
from openapi_core.casting.schemas import oas30_types_caster
from openapi_core.casting.schemas.factories import SchemaCastersFactory
from openapi_core.datatypes import RequestParameters
from openapi_core.deserializing.styles import StyleDeserializersFactory, style_deserializers
from openapi_core.deserializing.styles.deserializers import StyleDeserializer
from openapi_core.validation.schemas import oas30_write_schema_validators_factory
from openapi_core.validation.schemas.datatypes import FormatValidatorsDict
from openapi_core.validation.schemas.factories import SchemaValidatorsFactory
from openapi_core.validation.schemas.validators import SchemaValidator
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_DIR = Path(__file__).resolve().parent.parent / "ghl_openapi"
"""The vendored, unchanged copy of GoHighLevel/highlevel-api-docs (see its SOURCES.md)."""

API_VERSION = "2021-07-28"
"""The version of every Social Planner operation the sandbox serves."""

API_VERSION_V3 = "v3"
"""The version of statistics over a date range (`currentRange`)."""

SPEC_FILES: Mapping[str, Path] = {
    API_VERSION: SPEC_DIR / "apps" / "social-media-posting.json",
    API_VERSION_V3: SPEC_DIR / "apps" / "v3" / "social-planner-v3.json",
}
"""The Social Planner file of each `Version` the sandbox speaks."""

SOCIAL_PLANNER_SPEC = SPEC_FILES[API_VERSION]

OAUTH_SPEC = SPEC_DIR / "apps" / "oauth.json"
"""`/oauth/token` and `/oauth/locationToken` (form-encoded, snake_case), whatever the Version."""

# Where a `$ref` of the v3 file really points (the upstream layout quirk, see SOURCES.md).
_REDIRECTS = {"apps/common/common-schemas.json": "apps/v3/common/common-schemas.json"}


def read_vendored(uri: str) -> Any:
    """The JSON of a vendored OpenAPI file (a ``file:`` URI inside SPEC_DIR), refs redirected."""
    path = Path(uri_to_path(uri)).resolve()
    if not path.is_relative_to(SPEC_DIR):
        raise ValueError(f"refusing to load {uri}: outside the vendored OpenAPI files")
    relative = path.relative_to(SPEC_DIR).as_posix()
    if relative in _REDIRECTS and not path.exists():
        path = SPEC_DIR / _REDIRECTS[relative]
    return json.loads(path.read_text(encoding="utf-8"))


def _refuse_remote(uri: str) -> Any:
    raise ValueError(f"refusing to fetch {uri}: the OpenAPI files must resolve locally")


# How `$ref`s resolve: the vendored folder only. No `<all_urls>` handler: nothing is fetched.
RESOLVERS = {"file": read_vendored, "http": _refuse_remote, "https": _refuse_remote}


def load_spec(version: str) -> OpenAPI:
    """The parsed file of `version`, loaded once per process (parsing takes ~0.3 s)."""
    return load_spec_file(SPEC_FILES[version])


@cache
def load_spec_file(path: Path) -> OpenAPI:
    """The parsed OpenAPI file at `path` (one of the vendored files), loaded once per process."""
    schema_path = read_spec_file(path)
    if not (schema_path / "openapi").read_str().startswith("3.0."):
        # The cached validators below are those of OpenAPI 3.0 requests.
        raise ValueError(f"{path.name}: the sandbox validates OpenAPI 3.0 files only")
    validators = CachedSchemaValidators(oas30_write_schema_validators_factory)
    casters = SchemaCastersFactory(validators, oas30_types_caster)
    config = Config(
        # The upstream files declare their bearer schemes with `in`/`name` keys that OpenAPI
        # 3.0 does not allow for `type: http`, so the strict spec check would refuse the
        # official files. Requests are still validated in full; only the meta-check is skipped.
        spec_validator_cls=None,
        # What openapi-core's 3.0 request validator uses by default (the parameters' casters
        # hold a schema validator too), each schema's validator built once: the sandbox checks
        # requests only, so these are the request ("write") validators.
        schema_validators_factory=validators,
        schema_casters_factory=casters,
        style_deserializers_factory=CachedStyleDeserializers(casters, style_deserializers),
    )
    return OpenAPI(schema_path, config=config)


def read_spec_file(path: Path) -> SchemaPath:
    """The OpenAPI file at `path`, its `$ref`s resolved in the vendored folder only."""
    return SchemaPath.from_dict(
        json.loads(path.read_text(encoding="utf-8")), base_uri=path.as_uri(), handlers=RESOLVERS
    )


class CachedSchemaValidators(SchemaValidatorsFactory):
    """openapi-core's schema validators of one OpenAPI file, each built once, then reused.

    openapi-core builds a JSON Schema validator for every parameter and body of every request
    it checks, deep-copying its format checker each time: about a third of the CPU of the
    sandbox GHL's request validation. A validator depends only on its schema (a place in the
    file) and the options below, so the one built first for a schema checks every later
    request just as a new one would. One instance serves one file (the key is the schema's
    place in it). Not locked: its user, `SpecValidator`, validates under a lock.
    """

    def __init__(self, factory: SchemaValidatorsFactory) -> None:
        super().__init__(factory.schema_validator_cls, factory.format_checker)
        self._factory = factory
        self._built: dict[tuple[Any, ...], SchemaValidator] = {}

    @property
    def built(self) -> int:
        """How many validators are built (one per schema and options). Not `__len__`: an
        empty cache would be falsy, and openapi-core takes a falsy factory for none given."""
        return len(self._built)

    def create(
        self,
        spec: SchemaPath,
        schema: SchemaPath,
        format_validators: FormatValidatorsDict | None = None,
        extra_format_validators: FormatValidatorsDict | None = None,
        forbid_unspecified_additional_properties: bool = False,
        enforce_properties_required: bool = False,
    ) -> SchemaValidator:
        options = (forbid_unspecified_additional_properties, enforce_properties_required)
        if format_validators is not None or extra_format_validators is not None:
            # Formats of the caller's own (none in the sandbox): built each time, as before.
            return self._factory.create(
                spec, schema, format_validators, extra_format_validators, *options
            )
        key = (schema.parts, *options)
        validator = self._built.get(key)
        if validator is None:
            validator = self._factory.create(spec, schema, None, None, *options)
            self._built[key] = validator
        return validator


class CachedStyleDeserializers(StyleDeserializersFactory):
    """openapi-core's parameter deserializers of one OpenAPI file, each built once.

    A deserializer (the parameter's style, name, type and caster) depends only on the
    parameter's place in the file, so it is built for the first request that has it.
    """

    def __init__(self, casters: SchemaCastersFactory, styles: Any) -> None:
        super().__init__(casters, style_deserializers=styles)
        self._built: dict[tuple[Any, ...], StyleDeserializer] = {}

    def create(
        self, spec: SchemaPath, schema: SchemaPath, style: str, explode: bool, name: str
    ) -> StyleDeserializer:
        key = (schema.parts, style, explode, name)
        deserializer = self._built.get(key)
        if deserializer is None:
            deserializer = super().create(spec, schema, style, explode, name)
            self._built[key] = deserializer
        return deserializer


def load_social_planner_spec() -> OpenAPI:
    """The parsed 2021-07-28 Social Planner file."""
    return load_spec(API_VERSION)


def spec_server_url(version: str = API_VERSION) -> str:
    """The server URL the file declares (paths are matched against it, not our own host)."""
    return spec_file_server_url(SPEC_FILES[version])


def spec_file_server_url(path: Path) -> str:
    """The server URL the OpenAPI file at `path` declares."""
    data = json.loads(path.read_text("utf-8"))
    servers: list[dict[str, str]] = data["servers"]
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
    """Validates raw HTTP requests against the file of one version; safe to share by threads.

    `spec_file` picks another vendored file than the version's Social Planner one (the OAuth
    file, whose operations are checked against it whatever their `Version` header says).
    """

    def __init__(self, version: str = API_VERSION, *, spec_file: Path | None = None) -> None:
        if spec_file is None:
            if version not in SPEC_FILES:
                raise ValueError(f"no OpenAPI file for Version {version!r}")
            spec_file = SPEC_FILES[version]
        self.version = version
        self._api = load_spec_file(spec_file)
        self._host_url = spec_file_server_url(spec_file)
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
