"""The sandbox CRM's JSON-lines state file: what a kill leaves, and what is not ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.crm.state_file import StateFile, StateFileError


def test_a_missing_file_holds_nothing(tmp_path: Path) -> None:
    assert StateFile(tmp_path / "state.jsonl").load() == []


def test_entries_come_back_in_order(tmp_path: Path) -> None:
    state_file = StateFile(tmp_path / "deep" / "state.jsonl")
    state_file.append([{"kind": "a", "n": 1}, {"kind": "b", "text": "caf\u00e9 \ud800"}])
    state_file.append([{"kind": "c"}])
    state_file.close()

    assert StateFile(state_file.path).load() == [
        {"kind": "a", "n": 1},
        {"kind": "b", "text": "caf\u00e9 \ud800"},
        {"kind": "c"},
    ]


def test_a_torn_last_line_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    path.write_bytes(b'{"kind":"a"}\n{"kind":"b","te')

    state_file = StateFile(path)
    assert state_file.load() == [{"kind": "a"}]
    state_file.append([{"kind": "c"}])

    assert path.read_bytes() == b'{"kind":"a"}\n{"kind":"c"}\n'


def test_a_torn_first_line_leaves_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    path.write_bytes(b'{"kind":"a"')

    assert StateFile(path).load() == []
    assert path.read_bytes() == b""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"kind":"a"}\nnot json\n{"kind":"b"}\n', "state.jsonl:2: not a JSON line"),
        (b'{"kind":"a"}\n[1, 2]\n', "state.jsonl:2: expected an object with a 'kind'"),
        (b'{"no":"kind"}\n', "state.jsonl:1: expected an object with a 'kind'"),
    ],
)
def test_a_broken_line_elsewhere_is_an_error_naming_it(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "state.jsonl"
    path.write_bytes(content)

    with pytest.raises(StateFileError, match=message):
        StateFile(path).load()


def test_rewrite_replaces_everything(tmp_path: Path) -> None:
    state_file = StateFile(tmp_path / "state.jsonl")
    state_file.append([{"kind": "a"}, {"kind": "b"}])
    state_file.rewrite([{"kind": "a"}])
    state_file.append([{"kind": "c"}])

    assert StateFile(state_file.path).load() == [{"kind": "a"}, {"kind": "c"}]
    assert not (tmp_path / "state.jsonl.new").exists()
    assert state_file.path.stat().st_mode & 0o777 == 0o600
