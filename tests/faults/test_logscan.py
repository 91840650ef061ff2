"""Reading the processes' logs: errors by kind, exceptions, crash lines."""

from __future__ import annotations

from tests.faults.logscan import format_summary, kind_of, scan_log

LOG = """\
2026-11-23 10:00:00,001 INFO    event.done event_id=evt_1
2026-11-23 10:00:01,002 ERROR   Process 'ForkPoolWorker-2' pid:4242 exited with 'signal 9 (SIGKILL)'
2026-11-23 10:00:02,003 ERROR   Process 'ForkPoolWorker-3' pid:4250 exited with 'signal 9 (SIGKILL)'
2026-11-23 10:00:03,004 CRITICAL Unrecoverable error: ConnectionError('gone')
Traceback (most recent call last):
  File "x.py", line 1, in <module>
    raise UnicodeEncodeError
UnicodeEncodeError: 'utf-8' codec can't encode character '\\ud800' in position 3
2026-11-23 10:00:04,005 WARNING just a warning
"""


def test_numbers_are_blanked_so_lines_of_one_kind_count_together() -> None:
    assert kind_of(" pid:4242 exited 9 ") == "pid:N exited N"


def test_errors_exceptions_and_crashes_are_counted() -> None:
    summary = scan_log(LOG)

    assert summary.errors == {
        "ERROR Process 'ForkPoolWorker-N' pid:N exited with 'signal N (SIGKILL)'": 2,
        "CRITICAL Unrecoverable error: ConnectionError('gone')": 1,
    }
    assert summary.exceptions == {
        "UnicodeEncodeError: 'utf-N' codec can't encode character '\\udN' in position N": 1
    }
    assert len(summary.crashes) == 3
    assert format_summary(summary)[0].strip().startswith("2 x ERROR Process")


def test_a_quiet_log_has_nothing_to_say() -> None:
    summary = scan_log("2026-11-23 10:00:00,001 INFO    event.done\n")

    assert (summary.errors, summary.exceptions, summary.crashes) == ({}, {}, [])
