"""A connection's mapping: check a text, show it, preview a CRM body, save, history, roll back.

One place for each operation: the console's mappings page (`webapp.mappings`) and
`socialbridge mappings validate|show|preview` (`cli.mappings`) call these.

    checked = check_text(text, crm_kind)             # Checked: problems at their line, or summary
    current = show(connection)                       # the stored text, checked again
    result = preview(services, connection, text, body)   # as the receiver + flow would, unsent
    version = save(store, connection, text, author=email)   # MappingInvalid when not valid
    versions = history(store, connection.id)
    version = roll_back(store, connection, 3, author=email)  # a new version equal to 3

The format of mappings: docs/mappings.md.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

from crm.registry import connector_kind
from mappings import ConnectionMapping, MappingInvalid, MappingProblem, load_mapping
from store import ConnectionRecord, MappingVersionRecord, NotFound, Store
from workers import preview as previews
from workers.services import Services

BODY_MAX_BYTES = 1024 * 1024
"""Largest CRM body a preview reads: far above what a CRM posts, far below a mistake."""


class BodyUnreadable(ValueError):
    """A CRM body to preview that is not JSON (or too large, or not UTF-8); str() says why."""


@dataclass(frozen=True)
class Checked:
    """A mapping text checked as a whole: its mapping when valid, else every problem."""

    text: str
    mapping: ConnectionMapping | None
    problems: list[MappingProblem]

    @property
    def valid(self) -> bool:
        return self.mapping is not None

    @property
    def summary(self) -> dict[str, Any] | None:
        """What it maps (`ConnectionMapping.summary`), when valid."""
        return None if self.mapping is None else self.mapping.summary()


@dataclass(frozen=True)
class CurrentMapping:
    """A connection's stored mapping (None: it has none), checked again by this version."""

    connection: ConnectionRecord
    checked: Checked | None

    @property
    def text(self) -> str | None:
        return None if self.checked is None else self.checked.text


@dataclass(frozen=True)
class MappingPreview:
    """A preview: the mapping text's problems (then nothing ran), or what the body gave."""

    problems: list[MappingProblem]
    result: previews.EventPreview | None

    @property
    def ok(self) -> bool:
        return not self.problems and self.result is not None and preview_ok(self.result)


def outbound_fields_of(crm_kind: str) -> Collection[str] | None:
    """The outbound field names a CRM kind takes; None for a kind this version does not know
    (its field names cannot be checked)."""
    try:
        return connector_kind(crm_kind).capabilities.outbound_fields
    except ValueError:
        return None


def check_text(text: str, crm_kind: str | None = None) -> Checked:
    """Check a mapping text; with ``crm_kind``, its outbound field names against that kind's."""
    outbound_fields = None if crm_kind is None else outbound_fields_of(crm_kind)
    try:
        return Checked(text, load_mapping(text, outbound_fields=outbound_fields), [])
    except MappingInvalid as exc:
        return Checked(text, None, exc.problems)


def problem_views(problems: Sequence[MappingProblem]) -> list[dict[str, Any]]:
    """Problems as JSON values (the CLI's --json, the console's JSON)."""
    return [
        {"line": problem.line, "field": problem.field, "message": problem.message}
        for problem in problems
    ]


def show(connection: ConnectionRecord) -> CurrentMapping:
    """The connection's mapping as stored, checked by this version (it may no longer load)."""
    if connection.mapping is None:
        return CurrentMapping(connection, None)
    return CurrentMapping(connection, check_text(connection.mapping, connection.crm_kind))


def read_body(raw: bytes | str) -> Any:
    """A pasted or uploaded CRM body as JSON values; BodyUnreadable saying why not."""
    data = raw.encode("utf-8", errors="surrogatepass") if isinstance(raw, str) else raw
    if len(data) > BODY_MAX_BYTES:
        raise BodyUnreadable(f"larger than {BODY_MAX_BYTES} bytes")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BodyUnreadable(f"not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BodyUnreadable(
            f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise BodyUnreadable("nested too deeply") from None


def preview(
    services: Services, connection: ConnectionRecord, text: str | None, body: Any
) -> MappingPreview:
    """What ``connection`` would make of ``body`` with mapping ``text`` (None: the stored one),
    and what its connector would send, exactly as `mappings preview` does: nothing is stored
    and nothing reaches the CRM (`workers.preview.preview_event`). An invalid ``text`` runs
    nothing and gives its problems."""
    if text is not None:
        checked = check_text(text, connection.crm_kind)
        if not checked.valid:
            return MappingPreview(checked.problems, None)
        connection = replace(connection, mapping=text)
    return MappingPreview([], previews.preview_event(services, connection, body))


def preview_ok(result: previews.EventPreview) -> bool:
    """Whether the body made a valid event and no write would be refused."""
    return result.event is not None and result.ok


def preview_view(result: previews.EventPreview) -> dict[str, Any]:
    """An EventPreview as JSON values: what ``mappings preview`` prints and the page shows."""
    writes = [
        {
            "type": write.writeback.type,
            "idempotency_key": write.writeback.idempotency_key,
            "record": dict(write.writeback.record),
            "data": write.writeback.data,
            "requests": [
                {
                    "purpose": request.purpose,
                    "method": request.method,
                    "url": request.url,
                    "headers": dict(request.headers),
                    "body": request.body,
                }
                for request in write.requests
            ],
            "error": write.error,
        }
        for write in result.writes
    ]
    return {
        "ok": preview_ok(result),
        "event": result.event,
        "errors": result.errors,
        "writes": writes,
        "note": result.note,
    }


def save(
    store: Store, connection: ConnectionRecord, text: str, *, author: str | None = None
) -> MappingVersionRecord:
    """Make ``text`` the connection's mapping, as its next version; only a valid one
    (MappingInvalid with every problem otherwise, and nothing is saved)."""
    checked = check_text(text, connection.crm_kind)
    if not checked.valid:
        raise MappingInvalid(checked.problems)
    return store.save_mapping(connection.id, text, author=author)


def history(store: Store, connection_id: str) -> list[MappingVersionRecord]:
    """The connection's mapping versions, newest first."""
    return store.list_mapping_versions(connection_id)


def roll_back(
    store: Store, connection: ConnectionRecord, number: int, *, author: str | None = None
) -> MappingVersionRecord:
    """Make version ``number`` current again, as a new version equal to it (the history only
    grows). NotFound for a version the connection does not have; MappingInvalid when that
    version no longer loads in this version of socialbridge."""
    version = store.get_mapping_version(connection.id, number)
    if version is None:
        raise NotFound(f"connection {connection.name} has no mapping version {number}")
    checked = check_text(version.text, connection.crm_kind)
    if not checked.valid:
        raise MappingInvalid(checked.problems)
    return store.save_mapping(connection.id, version.text, author=author, restored_from=number)
