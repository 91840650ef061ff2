"""A mapping file read from the command line: bounded, UTF-8, one message per refusal.

    text = read_mapping_file(path)      # its text, or a MappingFileError saying why not

`mappings validate FILE` and `connections add|update --mapping FILE` both read through here,
so a file is refused in the same words by each. What a refusal then does (its exit code, the
prefix naming the file or the option) is the command's, as docs/mappings.md and
docs/connectors.md describe:

    MappingFileError
     ├── MappingFileUnreadable     the file cannot be opened or read (the OS says why)
     ├── MappingFileTooLarge       over `mappings.MAX_TEXT_BYTES`
     └── MappingFileNotUTF8        its bytes are not UTF-8 text
"""

from __future__ import annotations

from pathlib import Path

from mappings import MAX_TEXT_BYTES


class MappingFileError(Exception):
    """A mapping file refused before its content is read as a mapping; str() says why."""


class MappingFileUnreadable(MappingFileError):
    """The file cannot be opened or read; the message names it."""


class MappingFileTooLarge(MappingFileError):
    """The file holds more than a mapping may."""


class MappingFileNotUTF8(MappingFileError):
    """The file is not UTF-8 text; the message gives the first byte that is not."""


def read_mapping_file(path: Path) -> str:
    """The text of the mapping file at `path`, read no further than one byte past the limit."""
    try:
        with path.open("rb") as stream:
            # One byte past the limit tells "too large" without reading a huge file whole.
            raw = stream.read(MAX_TEXT_BYTES + 1)
    except OSError as exc:
        raise MappingFileUnreadable(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_TEXT_BYTES:
        raise MappingFileTooLarge(
            f"larger than {MAX_TEXT_BYTES} bytes; a mapping is at most {MAX_TEXT_BYTES // 1024} KiB"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MappingFileNotUTF8(f"not UTF-8 text (byte {exc.start})") from None
