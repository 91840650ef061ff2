"""Reading a mapping file: the text, or one refusal in the words both commands print."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.mapping_file import (
    MappingFileError,
    MappingFileNotUTF8,
    MappingFileTooLarge,
    MappingFileUnreadable,
    read_mapping_file,
)
from mappings import MAX_TEXT_BYTES


def test_a_file_up_to_the_limit_is_read_as_utf8(tmp_path: Path) -> None:
    text = "version: 1\n# café\n"
    text += "#" * (MAX_TEXT_BYTES - len(text.encode()) - 1) + "\n"
    path = tmp_path / "at-limit.yaml"
    path.write_text(text, encoding="utf-8")

    assert read_mapping_file(path) == text


def test_one_byte_over_the_limit_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "over.yaml"
    path.write_bytes(b"#" * (MAX_TEXT_BYTES + 1))

    with pytest.raises(MappingFileTooLarge) as refused:
        read_mapping_file(path)

    assert str(refused.value) == "larger than 65536 bytes; a mapping is at most 64 KiB"


def test_a_file_that_is_not_utf8_names_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\n# café\n".encode("latin-1"))

    with pytest.raises(MappingFileNotUTF8) as refused:
        read_mapping_file(path)

    assert str(refused.value) == "not UTF-8 text (byte 16)"


def test_a_file_that_cannot_be_read_is_named_with_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"

    with pytest.raises(MappingFileUnreadable) as refused:
        read_mapping_file(missing)

    assert str(refused.value) == f"cannot read {missing}: No such file or directory"


def test_every_refusal_is_a_mapping_file_error(tmp_path: Path) -> None:
    # A directory cannot be opened as a file: the OS's reason, in the same family.
    with pytest.raises(MappingFileError) as refused:
        read_mapping_file(tmp_path)

    assert isinstance(refused.value, MappingFileUnreadable)
    assert str(refused.value).startswith(f"cannot read {tmp_path}: ")
