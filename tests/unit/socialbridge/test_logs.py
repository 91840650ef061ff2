"""Structured logs: event names with fields, bound context, redaction and the two formats."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from socialbridge.logs import JsonFormatter, TextFormatter, bind, configure, get_logger

NAME = "socialbridge.tests.logs"


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record our test logger emits, whatever the root logger's configuration."""
    caught: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record)

    logger = logging.getLogger(NAME)
    handler = Keep()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield caught
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, put back as it was after `configure` changed it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, noisy_level in noisy.items():
        logging.getLogger(name).setLevel(noisy_level)


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    found: dict[str, Any] = record.event_fields  # type: ignore[attr-defined]
    return found


def make_record(event: str, fields: dict[str, Any], exc_info: Any = None) -> logging.LogRecord:
    record = logging.LogRecord(NAME, logging.WARNING, __file__, 1, event, None, exc_info)
    record.event_fields = fields
    return record


# --- the logger -----------------------------------------------------------------------------


def test_an_event_is_the_message_and_its_fields_travel_with_it(
    records: list[logging.LogRecord],
) -> None:
    get_logger(NAME).info("ghl.request", method="GET", status=200)

    [record] = records
    assert record.getMessage() == "ghl.request"
    assert record.levelno == logging.INFO
    assert fields_of(record) == {"method": "GET", "status": 200}


def test_each_level_logs_at_its_level(records: list[logging.LogRecord]) -> None:
    log = get_logger(NAME)

    log.debug("a")
    log.info("b")
    log.warning("c")
    log.error("d")

    assert [r.levelname for r in records] == ["DEBUG", "INFO", "WARNING", "ERROR"]


def test_errors_can_carry_the_traceback(records: list[logging.LogRecord]) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        get_logger(NAME).error("event.crashed", exc_info=True)

    [record] = records
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError


def test_nothing_is_built_below_the_level(records: list[logging.LogRecord]) -> None:
    logging.getLogger(NAME).setLevel(logging.WARNING)

    get_logger(NAME).info("quiet", field=1)
    get_logger(NAME).warning("loud")

    assert [r.getMessage() for r in records] == ["loud"]


@pytest.mark.parametrize(
    "name",
    ["token", "ghl_token", "webhook_secret", "Password", "AUTHORIZATION", "refresh_token_id"],
)
def test_fields_named_like_secrets_are_redacted(
    records: list[logging.LogRecord], name: str
) -> None:
    get_logger(NAME).info("x", **{name: "pit-123", "status": 200})

    assert fields_of(records[0]) == {name: "***", "status": 200}


def test_bound_secret_fields_are_redacted_too(records: list[logging.LogRecord]) -> None:
    with bind(crm_secret="whsec_abc"):
        get_logger(NAME).info("x")

    assert fields_of(records[0]) == {"crm_secret": "***"}


# --- bind -----------------------------------------------------------------------------------


def test_bound_fields_join_every_line_of_the_block(records: list[logging.LogRecord]) -> None:
    log = get_logger(NAME)

    with bind(event_id="evt_1"):
        log.info("inside", attempt=1)
        with bind(task_id="t1", event_id="evt_2"):
            log.info("nested")
        log.info("back")
    log.info("outside")

    assert [fields_of(r) for r in records] == [
        {"event_id": "evt_1", "attempt": 1},
        {"event_id": "evt_2", "task_id": "t1"},
        {"event_id": "evt_1"},
        {},
    ]


def test_a_field_given_on_the_line_wins_over_a_bound_one(
    records: list[logging.LogRecord],
) -> None:
    with bind(status="queued"):
        get_logger(NAME).info("x", status="done")

    assert fields_of(records[0]) == {"status": "done"}


def test_bound_fields_are_dropped_when_the_block_fails(records: list[logging.LogRecord]) -> None:
    with pytest.raises(ValueError, match="inside"), bind(event_id="evt_1"):
        raise ValueError("inside")
    get_logger(NAME).info("after")

    assert fields_of(records[0]) == {}


def test_another_thread_does_not_see_this_threads_fields(
    records: list[logging.LogRecord],
) -> None:
    with bind(event_id="evt_1"):
        worker = threading.Thread(target=lambda: get_logger(NAME).info("other thread"))
        worker.start()
        worker.join()

    assert fields_of(records[0]) == {}


# --- the formats ----------------------------------------------------------------------------


def test_the_text_format_is_time_level_event_and_fields() -> None:
    formatter = TextFormatter()
    record = make_record("ghl.request", {"status": 429, "path": "/tags"})

    line = formatter.format(record)

    assert line == f"{formatter.formatTime(record)} WARNING ghl.request status=429 path=/tags"


def test_the_text_format_of_an_event_without_fields_has_no_trailing_space() -> None:
    formatter = TextFormatter()
    record = make_record("worker.ready", {})

    assert formatter.format(record) == f"{formatter.formatTime(record)} WARNING worker.ready"


def test_the_text_format_appends_the_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = make_record("event.crashed", {"attempt": 2}, exc_info=sys.exc_info())

    lines = TextFormatter().format(record).splitlines()

    assert lines[0].endswith("WARNING event.crashed attempt=2")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: boom"


def test_the_json_format_is_one_object_per_line() -> None:
    formatter = JsonFormatter()
    record = make_record("webhook.accepted", {"event_id": "evt_1", "when": object})

    line = formatter.format(record)

    assert "\n" not in line
    assert json.loads(line) == {
        "ts": formatter.formatTime(record),
        "level": "WARNING",
        "logger": NAME,
        "event": "webhook.accepted",
        "event_id": "evt_1",
        # Values JSON cannot hold are written as text rather than lost.
        "when": str(object),
    }


def test_the_json_format_keeps_the_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = make_record("event.crashed", {}, exc_info=sys.exc_info())

    payload = json.loads(JsonFormatter().format(record))

    assert payload["exc"].startswith("Traceback (most recent call last):")
    assert payload["exc"].endswith("RuntimeError: boom")


# --- configure ------------------------------------------------------------------------------


def test_configure_sends_text_lines_to_stderr(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("info", "text")

    get_logger(NAME).info("worker.ready", concurrency=4, ghl_token="pit-x")
    get_logger(NAME).debug("hidden")

    assert root_logger.level == logging.INFO
    [handler] = root_logger.handlers
    assert isinstance(handler.formatter, TextFormatter)
    err = capsys.readouterr().err
    assert err.endswith(" INFO    worker.ready concurrency=4 ghl_token=***\n")
    assert "hidden" not in err


def test_configure_json_sends_json_lines(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("DEBUG", "json")

    get_logger(NAME).debug("worker.ready", concurrency=4)

    assert root_logger.level == logging.DEBUG
    payload = json.loads(capsys.readouterr().err)
    assert payload["event"] == "worker.ready"
    assert payload["level"] == "DEBUG"
    assert payload["concurrency"] == 4


def test_configure_quiets_httpx_which_would_log_urls(root_logger: logging.Logger) -> None:
    configure("DEBUG", "text")

    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("httpcore").level == logging.WARNING


def test_configure_twice_keeps_one_handler(root_logger: logging.Logger) -> None:
    configure("INFO", "text")
    configure("INFO", "json")

    [handler] = root_logger.handlers
    assert isinstance(handler.formatter, JsonFormatter)
