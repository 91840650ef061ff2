"""The ``template`` source of a field: Jinja2 in a sandbox, compiled when the mapping is loaded.

A template sees the document it maps (the CRM's body inbound, `WriteBack.document()`
outbound): each top-level key of it as a variable, and ``doc`` for the whole document (``doc``
wins over a key of that name; keys that are not names are reached as ``doc["a-b"]``).

Rules, and why:

- ``jinja2.sandbox.ImmutableSandboxedEnvironment``: no attribute starting with ``_`` and no
  Python internals, so ``{{ ''.__class__ }}`` is an error, not a way into the process; and no
  changing lists or dicts (``append``, ``update``), so one field's template cannot alter the
  document the next field reads.
- Undefined names and keys are errors (``StrictUndefined``), so a typo is reported rather
  than rendered as nothing. ``{{ x | default('') }}`` and ``{% if x is defined %}`` are how
  a template says a value may be missing.
- Autoescape is off: the output is data (a note, a keyword), not HTML.
- ``{{ }}`` writes null as nothing, booleans as ``true``/``false`` and lists and objects as
  compact JSON, never as Python's repr (``None``, ``['a']``).
- At most `MAX_OUTPUT_CHARS` characters of output. Repeating text or lists (``*``), powers
  (``**``) and ``%``-formatting are limited or refused, and so are the padding helpers
  (``center``, ``format``, ``indent``, ``wordwrap``, ``str.format``, ``ljust``, …), so a
  template cannot build gigabytes in one expression; ``random`` is gone so the same document
  always gives the same output. Only ``range`` (at most 100 000 numbers) and ``dict`` are
  global functions. The sandbox does not bound CPU time: templates are written by the
  operator of the connection, not by the CRM.
"""

from __future__ import annotations

import json
import operator as operators
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

MAX_OUTPUT_CHARS = 64 * 1024
"""Longest text a template may render."""

_MAX_POWER = 64
_REFUSED_METHODS = frozenset(
    {"format", "format_map", "center", "ljust", "rjust", "zfill", "expandtabs"}
)
_REFUSED_FILTERS = ("center", "format", "indent", "wordwrap", "random")


class TemplateProblem(ValueError):
    """A template that cannot be compiled or rendered; the message says why."""


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return value


class _MappingSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _REFUSED_METHODS:
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def wrap_str_format(self, value: Any) -> None:
        # The sandbox would hand out a guarded str.format; padding widths make it a way to
        # allocate gigabytes, so format is refused like the other padding methods.
        return None

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise SecurityError("%-formatting of text is not available; use ~ to join text")
        if operator == "*":
            for sized, times in ((left, right), (right, left)):
                repeated = isinstance(sized, str | list | tuple) and isinstance(times, int)
                if repeated and len(sized) * times > MAX_OUTPUT_CHARS:
                    raise SecurityError(f"repeating gives more than {MAX_OUTPUT_CHARS} items")
        if operator == "**" and isinstance(right, int | float) and abs(right) > _MAX_POWER:
            raise SecurityError(f"powers above {_MAX_POWER} are not available")
        binop = {"*": operators.mul, "**": operators.pow, "%": operators.mod}[operator]
        return binop(left, right)


def _environment() -> _MappingSandbox:
    environment = _MappingSandbox(
        autoescape=False,
        undefined=StrictUndefined,
        finalize=_finalize,
        keep_trailing_newline=True,
    )
    environment.globals.clear()
    environment.globals.update(range=safe_range, dict=dict)
    for name in _REFUSED_FILTERS:
        environment.filters.pop(name, None)
    return environment


_ENVIRONMENT = _environment()


class CompiledTemplate:
    """One template, compiled; ``text`` is the template as written."""

    __slots__ = ("_template", "text")

    def __init__(self, text: str) -> None:
        try:
            self._template: Template = _ENVIRONMENT.from_string(text)
        except TemplateSyntaxError as exc:
            where = f" (template line {exc.lineno})" if "\n" in text.strip() else ""
            raise TemplateProblem(f"template syntax: {exc.message}{where}") from None
        except TemplateError as exc:
            raise TemplateProblem(f"template: {exc}") from None
        self.text = text

    def render(self, document: Any) -> str:
        """The template's output for ``document``; TemplateProblem when it fails."""
        context: dict[str, Any] = {}
        if isinstance(document, Mapping):
            context.update((key, value) for key, value in document.items() if isinstance(key, str))
        context["doc"] = document
        pieces: list[str] = []
        size = 0
        try:
            for piece in self._template.generate(context):
                size += len(piece)
                if size > MAX_OUTPUT_CHARS:
                    raise TemplateProblem(f"the output exceeds {MAX_OUTPUT_CHARS} characters")
                pieces.append(piece)
        except TemplateProblem:
            raise
        except Exception as exc:
            # A template is code: whatever it raises (an undefined name, a refused attribute,
            # 1/0, a macro calling itself) is the template's failure, reported as one line.
            raise TemplateProblem(f"template: {_describe(exc)}") from None
        return "".join(pieces)

    def __repr__(self) -> str:
        return f"CompiledTemplate({self.text!r})"


def _describe(exc: Exception) -> str:
    if isinstance(exc, SecurityError):
        return f"not allowed: {exc}"
    if isinstance(exc, RecursionError):
        return "it calls itself too deeply"
    message = str(exc) or type(exc).__name__
    return message if isinstance(exc, TemplateError) else f"{type(exc).__name__}: {message}"
