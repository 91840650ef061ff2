"""What both fault runs' command lines share: option types that say what is wrong, and --keep."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults import chaos, fuzz
from tests.faults.cmdline import keep_logs, seconds, whole_number


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("300", 300)])
def test_whole_numbers(text: str, value: int) -> None:
    assert whole_number(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "at least 1, got 0"),
        ("-3", "at least 1, got -3"),
        ("2.5", "expected a whole number, got '2.5'"),
        ("many", "expected a whole number, got 'many'"),
    ],
)
def test_not_whole_numbers(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        whole_number(text)


@pytest.mark.parametrize(("text", "value"), [("0.5", 0.5), ("60", 60.0), ("3599.9", 3599.9)])
def test_seconds(text: str, value: float) -> None:
    assert seconds(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "3600", "nan", "inf", "soon"])
def test_not_seconds(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="seconds"):
        seconds(text)


@pytest.mark.parametrize(
    ("parse", "argv", "message"),
    [
        (chaos.parse_args, ["--events", "0"], "--events: expected a whole number of at least 1"),
        (chaos.parse_args, ["--duration", "x"], "--duration: expected a number of seconds"),
        (fuzz.parse_args, ["--requests", "-5"], "--requests: expected a whole number of at"),
        (fuzz.parse_args, ["--terminal-within", "0"], "--terminal-within: expected seconds"),
    ],
)
def test_both_runs_name_the_option_that_is_wrong(
    parse: Callable[[list[str]], argparse.Namespace],
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parse(argv)
    assert message in capsys.readouterr().err


def test_keep_copies_every_log_with_its_folder_and_nothing_else(tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    (workdir / "redis").mkdir(parents=True)
    (workdir / "worker1.log").write_text("worker\n")
    (workdir / "redis" / "redis.log").write_text("redis\n")
    (workdir / "socialbridge.db").write_bytes(b"not a log")

    kept = keep_logs(workdir, "test-kept-")
    try:
        copied = sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file())
        assert copied == ["redis/redis.log", "worker1.log"]
        assert (kept / "redis" / "redis.log").read_text() == "redis\n"
        assert kept.parent != workdir
    finally:
        shutil.rmtree(kept)
