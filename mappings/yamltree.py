"""A mapping's YAML read into a small tree whose every node knows its line.

PyYAML's own loaders are not used, for three reasons:

- they keep the last of two equal keys silently, and a mapping with ``post_id`` twice must
  be refused, naming both lines;
- anchors and aliases let a few lines expand into gigabytes ("billion laughs"), and tags
  (``!!python/object``, ``!foo``) ask for types a mapping has no use for: all are refused;
- they resolve scalars by YAML 1.1, where ``yes``, ``no``, ``on`` and ``off`` are booleans
  and ``2026-11-23`` is a date. Here plain scalars follow the YAML 1.2 core schema instead:
  ``null``/``~``/nothing is null, ``true``/``false`` are booleans, decimal integers and
  floats are numbers, and everything else (including ``yes``, ``on`` and dates) is text.
  Quoted and block scalars are always text.

So the text is read as PyYAML's event stream (its scanner and parser keep no recursion and
no references) and the tree is built here, with a depth limit. Every problem names its
1-based line and the dotted path of the node (``inbound.fields.post_id``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from mappings.problems import MappingProblem

MAX_TEXT_BYTES = 64 * 1024
"""Largest mapping text, in UTF-8 bytes: a mapping is a page of YAML, far more is a mistake."""

MAX_DEPTH = 16
"""Deepest nesting of mappings and lists; a mapping needs five levels."""

ScalarValue = str | int | float | bool | None

_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUES = frozenset({"true", "True", "TRUE"})
_FALSES = frozenset({"false", "False", "FALSE"})


@dataclass(frozen=True)
class Scalar:
    value: ScalarValue
    text: str  # as written (without quotes): how a key is named in a dotted path
    line: int


@dataclass(frozen=True)
class MapNode:
    items: tuple[tuple[Scalar, Node], ...]
    line: int

    def keys(self) -> list[str]:
        return [key.text for key, _ in self.items]


@dataclass(frozen=True)
class SeqNode:
    items: tuple[Node, ...]
    line: int


Node = Scalar | MapNode | SeqNode


def plain_value(node: Node) -> Any:
    """The node as plain Python data (dicts, lists, scalars); keys are their values."""
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, SeqNode):
        return [plain_value(item) for item in node.items]
    return {key.value: plain_value(value) for key, value in node.items}


def dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def resolve_plain(text: str) -> ScalarValue:
    """A plain (unquoted) scalar's value by the YAML 1.2 core schema, less .inf/.nan/0x/0o."""
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    if _INT.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts: text it stays
            return text
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


@dataclass
class _Frame:
    """A mapping or list being built: its path, line, and what it holds so far."""

    path: tuple[str, ...]
    line: int
    is_map: bool
    items: list[Any] = field(default_factory=list)
    key: Scalar | None = None
    key_refused: bool = False
    key_text: str = "?"  # the key being read, also when refused: it names the value's path
    seen: dict[tuple[str, ScalarValue], int] = field(default_factory=dict)

    def child_path(self) -> tuple[str, ...]:
        if self.is_map:
            return (*self.path, self.key_text)
        return (*self.path, str(len(self.items)))


class _Builder:
    def __init__(self) -> None:
        self.problems: list[MappingProblem] = []
        self.refused = False  # an anchor, alias or tag: the tree is not to be used at all
        self.stack: list[_Frame] = []
        self.root: Node | None = None
        self.documents = 0

    def problem(self, line: int, path: tuple[str, ...], message: str) -> None:
        self.problems.append(MappingProblem(line, dotted(path), message))

    def path(self) -> tuple[str, ...]:
        return self.stack[-1].child_path() if self.stack else ()

    def event(self, event: yaml.Event) -> bool:
        """Take one event; False once reading must stop."""
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.problem(line, (), "one YAML document only (remove the second ---)")
                return False
            return True
        if isinstance(event, yaml.AliasEvent):
            self.refused = True
            self.problem(line, self.path(), f"aliases (*{event.anchor}) are not allowed")
            self._add(Scalar(None, "", line))
            return True
        if isinstance(event, yaml.ScalarEvent | yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self._check_properties(event, line)
        if isinstance(event, yaml.ScalarEvent):
            value = resolve_plain(event.value) if event.style is None else event.value
            self._add(Scalar(value, event.value, line))
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            path = self.path()
            if len(self.stack) >= MAX_DEPTH:
                self.problem(line, path, f"nested deeper than {MAX_DEPTH} levels")
                return False
            self.stack.append(_Frame(path, line, isinstance(event, yaml.MappingStartEvent)))
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            frame = self.stack.pop()
            if frame.is_map:
                self._add(MapNode(tuple(frame.items), frame.line))
            else:
                self._add(SeqNode(tuple(frame.items), frame.line))
        return True

    def _check_properties(self, event: Any, line: int) -> None:
        if event.anchor is not None:
            self.refused = True
            self.problem(line, self.path(), f"anchors (&{event.anchor}) are not allowed")
        if event.tag is not None:
            self.refused = True
            self.problem(line, self.path(), f"tags ({event.tag}) are not allowed")

    def _add(self, node: Node) -> None:
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        if not frame.is_map:
            frame.items.append(node)
            return
        if frame.key is None and not frame.key_refused:
            self._take_key(frame, node)
            return
        if frame.key is not None:
            frame.items.append((frame.key, node))
        frame.key = None
        frame.key_refused = False

    def _take_key(self, frame: _Frame, node: Node) -> None:
        if not isinstance(node, Scalar):
            frame.key_refused = True
            frame.key_text = "?"
            self.problem(node.line, frame.path, "a key must be a plain value, not a list or map")
            return
        frame.key_text = node.text
        identity = (type(node.value).__name__, node.value)
        first = frame.seen.get(identity)
        if first is not None:
            frame.key_refused = True
            self.problem(
                node.line, (*frame.path, node.text), f"duplicate key (first on line {first})"
            )
            return
        frame.seen[identity] = node.line
        frame.key = node


def parse_tree(text: str) -> tuple[Node | None, list[MappingProblem]]:
    """The tree of ``text`` and the problems found reading it.

    The tree is None when it must not be used: the text is too large, not YAML, holds an
    anchor, alias or tag, or is empty. Duplicate keys are reported and the later one left
    out, so the rest can still be checked.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        return None, [
            MappingProblem(0, "", f"the text is {size} bytes; a mapping is at most 64 KiB")
        ]
    builder = _Builder()
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if not builder.event(event):
                return None, builder.problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        reason = exc.problem or "unreadable"
        if exc.context:
            reason += f" ({exc.context})"
        if exc.context and "flow" in exc.context:
            # The usual cause: a JSONPath with [*] written unquoted inside { }.
            reason += "; inside { } and [ ], quote values holding [ ] { } , or #"
        builder.problems.append(MappingProblem(line, "", f"not valid YAML: {reason}"))
        return None, builder.problems
    except yaml.YAMLError as exc:
        # The reader's own errors (a character YAML does not allow) carry a position only.
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else 0
        reason = getattr(exc, "reason", None) or str(exc)
        builder.problems.append(MappingProblem(line, "", f"not valid YAML: {reason}"))
        return None, builder.problems
    if builder.refused:
        return None, builder.problems
    if builder.root is None or (isinstance(builder.root, Scalar) and builder.root.value is None):
        builder.problems.append(
            MappingProblem(1, "", "the mapping is empty; it needs at least `version: 1`")
        )
        return None, builder.problems
    return builder.root, builder.problems
