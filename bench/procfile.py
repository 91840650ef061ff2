"""The Procfile's command lines as argv, so that benchmarks and tests run exactly them.

    argv = procfile_argv("web", env, swap={"webapp:create_app()": "bench.bare_flask:create_app()"})

A line is split as a shell splits words, then ``$NAME``, ``${NAME}`` and ``${NAME:-default}``
are expanded in each word from ``env`` (the Procfile quotes no word that holds a ``$``). Its
program is the console script of this Python's environment, as `make run` starts them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from cli.dev.run import console_script

PROCFILE = Path(__file__).resolve().parents[1] / "Procfile"

_VARIABLE = re.compile(r"\$(?:(\w+)|\{(\w+)(?::-([^}]*))?\})")


class ProcfileError(Exception):
    """The Procfile has no such process, or its line needs a variable that is not set."""


def procfile_lines(path: Path = PROCFILE) -> dict[str, str]:
    """``{process: command line}`` of every ``name: command`` line."""
    lines: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        name, separator, command = raw.partition(":")
        if separator and name.strip() and not raw.lstrip().startswith("#"):
            lines[name.strip()] = command.strip()
    return lines


def procfile_argv(
    process: str,
    env: Mapping[str, str],
    *,
    swap: Mapping[str, str] | None = None,
    path: Path = PROCFILE,
) -> list[str]:
    """The argv of ``process``'s line: expanded from ``env``, each word in ``swap`` replaced.

    ProcfileError when the process is missing, a variable without a default is not in
    ``env``, or a word of ``swap`` is not on the line (the benchmark would measure another
    command than it says).
    """
    line = procfile_lines(path).get(process)
    if line is None:
        raise ProcfileError(f"{path.name} has no {process!r} process")
    words = [_expand(word, env) for word in shlex.split(line)]
    for old, new in (swap or {}).items():
        if old not in words:
            raise ProcfileError(f"{path.name}'s {process!r} line has no word {old!r}: {line}")
        words = [new if word == old else word for word in words]
    return [console_script(words[0]), *words[1:]]


def _expand(word: str, env: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name, default = match.group(1) or match.group(2), match.group(3)
        if default is not None:  # as a shell does: the default also stands for an empty value
            return env.get(name) or default
        if name not in env:
            raise ProcfileError(f"${name} is not set")
        return env[name]

    return _VARIABLE.sub(value, word)
