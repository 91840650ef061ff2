"""`socialbridge mappings validate|show|preview`, run with click's CliRunner.

``show`` and ``preview`` get a runtime whose connection is a fixed record, and ``preview``'s
`workers.preview.preview_event` is replaced by one returning fixed EventPreviews: these tests
check what the commands print and their exit codes; the real preview path is tested with
`workers.preview`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from cli import mappings as command
from cli.runtime import Runtime
from crm.connector import OutgoingRequest, WriteBack
from workers import preview as previews

MAPPING = """\
version: 1
inbound:
  type: {path: $.event, map: {social_post_published: post.published, stats: statistics.requested}}
  id: $.delivery.id
  fields:
    post_id: $.post.id
    tag_ids: $.post.tags[*].id
    record.contact_id: $.contact.id
outbound:
  post.tags_synced:
    Note: {template: "Post {{ post_id }}"}
"""

INVALID = """\
version: 1
inbound:
  type: $.event
  fields:
    post_idd: $.post.id
outbound:
  post.tags_synced:
    Note: {template: "{{ x"}
"""


def run(*args: str, obj: Any = None, input: str | bytes | None = None) -> Result:
    return CliRunner().invoke(command.group, list(args), obj=obj, input=input)


def write(tmp_path: Path, text: str, name: str = "mapping.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- validate -----------------------------------------------------------------------------


def test_validate_a_valid_file_prints_what_it_maps(tmp_path: Path) -> None:
    path = write(tmp_path, MAPPING)
    result = run("validate", str(path))

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}: valid mapping, version 1"
    assert "  event types: post.published, statistics.requested" in lines
    assert "  delivery id: $.delivery.id" in lines
    assert "    tag_ids            $.post.tags[*].id" in lines
    assert "  post.tags_synced  Note   template" in lines


def test_validate_prints_every_problem_with_its_line_on_stderr_and_exits_1(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, INVALID)
    result = run("validate", str(path))

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        "line 5: inbound.fields.post_idd: not a field of any event type (did you mean post_id?)"
    )
    assert lines[1] == (
        "line 8: outbound.post.tags_synced.Note.template: template syntax: unexpected end of "
        "template, expected 'end of print statement'."
    )
    assert lines[2] == f"{path}: not a valid mapping (2 problems)"


def test_validate_json_gives_validity_problems_and_summary(tmp_path: Path) -> None:
    good = run("validate", str(write(tmp_path, MAPPING)), "--json")
    assert good.exit_code == 0
    shown = json.loads(good.stdout)
    assert shown["valid"] is True
    assert shown["problems"] == []
    assert shown["summary"]["inbound"]["fields"]["record.contact_id"] == "$.contact.id"
    assert shown["summary"]["outbound"] == {"post.tags_synced": {"Note": "template"}}

    bad = run("validate", str(write(tmp_path, INVALID, "bad.yaml")), "--json")
    assert bad.exit_code == 1
    shown = json.loads(bad.stdout)
    assert shown["valid"] is False
    assert shown["summary"] is None
    assert [(p["line"], p["field"]) for p in shown["problems"]] == [
        (5, "inbound.fields.post_idd"),
        (8, "outbound.post.tags_synced.Note.template"),
    ]


def test_validate_with_crm_checks_outbound_field_names(tmp_path: Path) -> None:
    path = write(tmp_path, MAPPING)
    # The generic webhook connector writes a fixed format: no outbound part.
    result = run("validate", str(path), "--crm", "webhook")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "line 9: outbound: this CRM kind takes no outbound part"
    )


def test_validate_with_crm_accepts_the_kinds_own_fields(tmp_path: Path) -> None:
    from crm.registry import KIND_NAMES, connector_kind

    kinds = [k for k in KIND_NAMES if connector_kind(k).capabilities.outbound_fields]
    if not kinds:
        pytest.fail("no CRM kind takes an outbound part; this test needs one")
    kind = kinds[0]
    fields = connector_kind(kind).capabilities.outbound_fields
    text = "version: 1\noutbound:\n  post.tags_synced:\n" + "".join(
        f"    {name}: $.post_id\n" for name in fields
    )
    result = run("validate", str(write(tmp_path, text)), "--crm", kind)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].endswith(f"(outbound fields checked for {kind})")


def test_validate_refuses_an_unknown_crm_kind(tmp_path: Path) -> None:
    result = run("validate", str(write(tmp_path, MAPPING)), "--crm", "nosuchcrm")
    assert result.exit_code == 2
    assert "Invalid value for '--crm'" in result.stderr


def test_validate_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot read {tmp_path / 'nope.yaml'}: No such file or directory\n"
    )


def test_validate_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\n# café\n".encode("latin-1"))
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert result.stderr == f"Error: {path}: not UTF-8 text (byte 16)\n"


def test_validate_a_file_over_64_kib_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\n" + "#" * 70_000 + "\n")
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "larger than 65536 bytes; a mapping is at most 64 KiB",
        f"{path}: not a valid mapping (1 problem)",
    ]


# --- show ---------------------------------------------------------------------------------


@dataclass
class FakeRecord:
    id: str = "con_1"
    name: str = "acme"
    crm_kind: str = "webhook"
    mapping: str | None = None


@dataclass
class FakeRuntime(Runtime):
    """A runtime with one connection and no settings, store or services behind it."""

    record: FakeRecord = field(default_factory=FakeRecord)

    def __post_init__(self) -> None:
        super().__init__(env_file=None)

    def connection(self, id_or_name: str) -> Any:
        if id_or_name not in (self.record.id, self.record.name):
            raise click.BadParameter(f"no connection {id_or_name!r}", param_hint="CONNECTION")
        return self.record

    @property
    def services(self) -> Any:
        return "services"


INBOUND_ONLY = MAPPING.split("outbound:")[0]


def test_show_prints_the_summary_and_the_text() -> None:
    runtime = FakeRuntime(FakeRecord(mapping=INBOUND_ONLY))
    result = run("show", "acme", obj=runtime)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "mapping of connection acme (con_1), CRM webhook"
    assert "  type from:   $.event" in lines
    assert "outbound: none (the connector writes its default format)" in lines
    text_start = lines.index("text:")
    assert lines[text_start + 1 :] == [f"  {line}".rstrip() for line in INBOUND_ONLY.splitlines()]


def test_show_json() -> None:
    runtime = FakeRuntime(FakeRecord(mapping=INBOUND_ONLY))
    result = run("show", "con_1", "--json", obj=runtime)
    assert result.exit_code == 0
    shown = json.loads(result.stdout)
    assert shown["connection"] == {"id": "con_1", "name": "acme", "crm_kind": "webhook"}
    assert shown["mapping"] == INBOUND_ONLY
    assert shown["summary"]["inbound"]["id"] == "$.delivery.id"
    assert shown["problems"] == []


def test_show_a_connection_without_a_mapping() -> None:
    result = run("show", "acme", obj=FakeRuntime())
    assert result.exit_code == 0
    assert result.stdout == (
        "connection acme (con_1) has no mapping: its CRM posts our own event format\n"
    )
    shown = json.loads(run("show", "acme", "--json", obj=FakeRuntime()).stdout)
    assert shown["mapping"] is None
    assert shown["summary"] is None


def test_show_a_stored_mapping_that_no_longer_loads_exits_1() -> None:
    # Stored for a webhook connection, whose kind takes no outbound part.
    runtime = FakeRuntime(FakeRecord(mapping=MAPPING))
    result = run("show", "acme", obj=runtime)
    assert result.exit_code == 1
    assert result.stderr == (
        "no longer valid: line 9: outbound: this CRM kind takes no outbound part\n"
    )
    assert "  outbound:" in result.stdout.splitlines()  # the text is still shown


def test_show_an_unknown_connection_is_a_usage_error() -> None:
    result = run("show", "other", obj=FakeRuntime())
    assert result.exit_code == 2
    assert "no connection 'other'" in result.stderr


# --- preview ------------------------------------------------------------------------------

BODY = {"event": "social_post_published", "post": {"id": "crm-1"}, "contact": {"id": "C.1.2"}}

EVENT = {
    "type": "post.published",
    "timestamp": "2026-11-23T10:00:05+00:00",
    "data": {"post_id": "crm-1", "record": {"contact_id": "C.1.2"}},
}

WRITEBACK = WriteBack(
    type="post.tags_synced",
    idempotency_key="evt_preview:post.tags_synced",
    data={"post_id": "crm-1", "location_id": "loc", "tags": []},
    record={"contact_id": "C.1.2"},
)

REQUEST = OutgoingRequest(
    method="POST",
    url="https://crm.example/xml",
    headers={"content-type": "text/xml"},
    body="<request>\n  <note>Post crm-1</note>\n</request>",
    purpose="insert",
)


@pytest.fixture
def previewed(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replaces preview_event; the test sets ``previewed[0]`` to what it returns, and the
    calls are appended after it."""
    answer: list[Any] = [None]

    def fake(services: Any, connection: Any, body: Any) -> previews.EventPreview:
        answer.append((services, connection, body))
        result: previews.EventPreview = answer[0]
        return result

    monkeypatch.setattr(previews, "preview_event", fake)
    return answer


def body_file(tmp_path: Path, body: Any = BODY) -> str:
    path = tmp_path / "body.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return str(path)


def test_preview_shows_the_event_and_each_request(tmp_path: Path, previewed: list[Any]) -> None:
    previewed[0] = previews.EventPreview(
        event=EVENT,
        errors={},
        writes=[previews.WritePreview(WRITEBACK, [REQUEST], None)],
        note="GHL was read; nothing was stored and nothing was sent to the CRM",
    )
    runtime = FakeRuntime(FakeRecord(mapping=MAPPING, crm_kind="smartoffice"))
    result = run("preview", "acme", "--event", body_file(tmp_path), obj=runtime)

    assert result.exit_code == 0, result.output
    assert previewed[1] == ("services", runtime.record, BODY)
    assert result.stdout.splitlines() == [
        "event:",
        "  type:      post.published",
        "  timestamp: 2026-11-23T10:00:05+00:00",
        '  data:      {"post_id": "crm-1", "record": {"contact_id": "C.1.2"}}',
        "write 1: post.tags_synced (key evt_preview:post.tags_synced, record contact_id=C.1.2)",
        "  request 1 (insert): POST https://crm.example/xml",
        "    content-type: text/xml",
        "    body:",
        "      <request>",
        "        <note>Post crm-1</note>",
        "      </request>",
        "note: GHL was read; nothing was stored and nothing was sent to the CRM",
    ]
    assert result.stderr == ""


def test_preview_of_a_body_that_maps_to_no_event_exits_1(
    tmp_path: Path, previewed: list[Any]
) -> None:
    previewed[0] = previews.EventPreview(
        event=None,
        errors={"data.post_id": ["Missing data for required field. (mapped from $.post.id)"]},
        writes=[],
        note="the body makes no valid event",
    )
    result = run("preview", "acme", "--event", body_file(tmp_path), obj=FakeRuntime())

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "the body makes no valid event (the receiver answers 422):",
        "  data.post_id: Missing data for required field. (mapped from $.post.id)",
    ]
    assert result.stdout == "note: the body makes no valid event\n"


def test_preview_of_a_refused_write_exits_1(tmp_path: Path, previewed: list[Any]) -> None:
    previewed[0] = previews.EventPreview(
        event=EVENT,
        errors={},
        writes=[
            previews.WritePreview(
                WriteBack("post.tags_synced", "k1", {"post_id": "crm-1"}), [], "no contact"
            )
        ],
        note="",
    )
    result = run("preview", "acme", "--event", body_file(tmp_path), obj=FakeRuntime())
    assert result.exit_code == 1
    assert "write 1: post.tags_synced (key k1, record -)" in result.stdout.splitlines()
    assert result.stderr == "  refused: no contact\n"


def test_preview_json(tmp_path: Path, previewed: list[Any]) -> None:
    previewed[0] = previews.EventPreview(
        event=EVENT,
        errors={},
        writes=[previews.WritePreview(WRITEBACK, [REQUEST], None)],
        note="n",
    )
    result = run("preview", "acme", "--event", body_file(tmp_path), "--json", obj=FakeRuntime())
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "ok": True,
        "event": EVENT,
        "errors": {},
        "writes": [
            {
                "type": "post.tags_synced",
                "idempotency_key": "evt_preview:post.tags_synced",
                "record": {"contact_id": "C.1.2"},
                "data": {"post_id": "crm-1", "location_id": "loc", "tags": []},
                "requests": [
                    {
                        "purpose": "insert",
                        "method": "POST",
                        "url": "https://crm.example/xml",
                        "headers": {"content-type": "text/xml"},
                        "body": REQUEST.body,
                    }
                ],
                "error": None,
            }
        ],
        "note": "n",
    }


def test_preview_reads_the_body_from_stdin(previewed: list[Any]) -> None:
    previewed[0] = previews.EventPreview(event=EVENT, errors={}, writes=[], note="")
    result = run("preview", "acme", "--event", "-", obj=FakeRuntime(), input=json.dumps(BODY))
    assert result.exit_code == 0, result.output
    assert previewed[1][2] == BODY
    assert "writes: none" in result.stdout.splitlines()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"event": ', "not JSON: Expecting value (line 1, column 11)"),
        (b"\xff\xfe{}", "not UTF-8 (byte 0)"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b" " * (1024 * 1024 + 1), "larger than 1048576 bytes"),
    ],
)
def test_preview_refuses_a_body_it_cannot_read(
    tmp_path: Path, previewed: list[Any], content: bytes, message: str
) -> None:
    path = tmp_path / "body.json"
    path.write_bytes(content)
    result = run("preview", "acme", "--event", str(path), obj=FakeRuntime())
    assert result.exit_code == 1
    assert result.stderr == f"Error: --event {path}: {message}\n"
    assert len(previewed) == 1  # preview_event was not called


def test_preview_needs_an_event_file() -> None:
    result = run("preview", "acme", obj=FakeRuntime())
    assert result.exit_code == 2
    assert "Missing option '--event'" in result.stderr
