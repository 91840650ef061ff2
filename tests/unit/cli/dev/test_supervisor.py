"""`make run`'s supervisor: children's output, stopping, restarts with backoff, `supervise`."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import redis

from cli.dev.supervisor import Backoff, Restarts, Supervisor, describe_exit, supervise
from socialbridge.embedded_redis import EmbeddedRedis

# --- the supervisor ----------------------------------------------------------------------


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def wait_for_exit(supervisor: Supervisor, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while supervisor.first_exited() is None and time.monotonic() < deadline:
        time.sleep(0.05)


def test_children_output_is_prefixed_with_their_name(tmp_path: Path) -> None:
    lines: list[str] = []
    supervisor = Supervisor(lines.append, cwd=tmp_path)

    supervisor.start(
        "web", python("print('hello'); import sys; print('oops', file=sys.stderr)"), os.environ
    )
    wait_for_exit(supervisor)
    supervisor.stop_all()

    assert "web    | hello" in lines
    assert "web    | oops" in lines


def test_first_exited_names_the_child_and_its_code(tmp_path: Path) -> None:
    supervisor = Supervisor(lambda line: None, cwd=tmp_path)
    supervisor.start("worker", python("import time; time.sleep(30)"), os.environ)
    supervisor.start("beat", python("raise SystemExit(3)"), os.environ)

    wait_for_exit(supervisor)
    exited = supervisor.first_exited()
    supervisor.stop_all()

    assert exited is not None
    assert (exited.name, exited.process.returncode) == ("beat", 3)


def test_stop_all_terminates_then_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    lines: list[str] = []
    supervisor = Supervisor(lines.append, cwd=tmp_path)
    polite = supervisor.start("polite", python("import time; time.sleep(30)"), os.environ)
    stubborn = supervisor.start(
        "stubborn",
        python(
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(30)"
        ),
        os.environ,
    )
    deadline = time.monotonic() + 10
    while "stubborn | ready" not in lines and time.monotonic() < deadline:
        time.sleep(0.05)

    started = time.monotonic()
    supervisor.stop_all(timeout=1.0)

    assert time.monotonic() - started < 5
    assert polite.process.returncode == -15
    assert stubborn.process.returncode == -9
    assert "stubborn did not stop within 1 s: killing it" in lines


# --- restarts: the backoff ---------------------------------------------------------------


def test_backoff_doubles_from_one_second_up_to_thirty() -> None:
    backoff = Backoff()
    delays: list[float] = []
    previous = None
    for _ in range(8):
        previous = backoff.next_delay(previous, uptime=0.5)
        delays.append(previous)

    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_backoff_starts_over_after_a_child_stayed_up_a_while() -> None:
    backoff = Backoff(first=1, maximum=30, reset_after=60)

    assert backoff.next_delay(16, uptime=59.9) == 30
    assert backoff.next_delay(16, uptime=60) == 1
    assert backoff.next_delay(30, uptime=3600) == 1


def test_restarts_count_and_know_when_the_next_start_is_due() -> None:
    restarts = Restarts(Backoff(first=1, maximum=30, reset_after=60), started_at=100.0)

    assert not restarts.pending
    assert restarts.exited(now=101.0) == 1
    assert restarts.pending
    assert not restarts.is_due(101.9)
    assert restarts.is_due(102.0)
    restarts.restarted(now=102.0)
    assert (restarts.pending, restarts.count, restarts.started_at) == (False, 1, 102.0)
    assert restarts.exited(now=103.0) == 2  # up 1 s only: the wait doubles
    restarts.restarted(now=105.0)
    assert restarts.exited(now=200.0) == 1  # up 95 s: back to the first wait


def test_describe_exit_names_codes_and_signals() -> None:
    assert describe_exit(0) == "with code 0"
    assert describe_exit(3) == "with code 3"
    assert describe_exit(-signal.SIGKILL) == "on signal SIGKILL"
    assert describe_exit(-signal.SIGTERM) == "on signal SIGTERM"
    assert describe_exit(-200) == "on signal 200"


# --- restarts: the supervisor ------------------------------------------------------------


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_child_that_exits_is_started_again_after_its_backoff_and_the_output_says_so(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    supervisor = Supervisor(lines.append, cwd=tmp_path, clock=lambda: 0.0)
    child = supervisor.start(
        "beat", python("print('up', flush=True); raise SystemExit(3)"), os.environ
    )
    first_pid = child.process.pid
    wait_until(lambda: child.process.poll() is not None, "the first exit")

    supervisor.keep_running(now=0.5)
    supervisor.keep_running(now=1.4)  # its 1 s wait is not over
    assert child.process.pid == first_pid
    supervisor.keep_running(now=1.5)
    second_pid = child.process.pid
    wait_until(lambda: child.process.poll() is not None, "the second exit")
    supervisor.keep_running(now=2.0)
    supervisor.keep_running(now=4.0)
    wait_until(lambda: child.process.poll() is not None, "the third exit")
    supervisor.keep_running(now=90.0)  # up 86 s: the wait starts over at 1 s
    supervisor.stop_all()

    said = [line for line in lines if not line.startswith("beat   |")]
    assert re.fullmatch(
        r"beat exited with code 3 after 0\.5 s: restarting it in 1 s \(at \d\d:\d\d:\d\d\)",
        said[0],
    )
    assert said[1] == f"beat started again (pid {second_pid}, restart 1)"
    assert said[2].startswith("beat exited with code 3 after 0.5 s: restarting it in 2 s")
    assert said[3] == f"beat started again (pid {child.process.pid}, restart 2)"
    assert said[4].startswith("beat exited with code 3 after 86.0 s: restarting it in 1 s")
    assert len(said) == 5
    assert second_pid != first_pid
    assert lines.count("beat   | up") == 3  # every run's output is prefixed the same


def test_a_child_that_keeps_dying_is_restarted_ever_more_slowly(tmp_path: Path) -> None:
    lines: list[str] = []
    backoff = Backoff(first=0.1, maximum=0.4, reset_after=60)
    supervisor = Supervisor(lines.append, cwd=tmp_path, backoff=backoff)
    child = supervisor.start("worker", python("raise SystemExit(1)"), os.environ)

    started = time.monotonic()
    looks = 0
    while child.restarts.count < 5:
        assert time.monotonic() - started < 30, lines
        supervisor.keep_running()
        looks += 1
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    supervisor.stop_all()

    waits = [
        float(match.group(1))
        for line in lines
        if (match := re.search(r"restarting it in ([\d.]+) s", line))
    ]
    assert waits == [0.1, 0.2, 0.4, 0.4, 0.4]
    # However often the supervisor looks, five restarts take at least the five waits.
    assert elapsed >= sum(waits)
    assert looks > 5 * child.restarts.count


def test_a_restart_first_ends_what_the_exited_child_left_behind(tmp_path: Path) -> None:
    lines: list[str] = []
    supervisor = Supervisor(lines.append, cwd=tmp_path, clock=lambda: 0.0)
    # Like a pool process whose master died without stopping it.
    child = supervisor.start(
        "worker",
        python(
            "import subprocess, sys; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print('left', p.pid, flush=True)"
        ),
        os.environ,
    )
    wait_until(lambda: any("| left" in line for line in lines), "the grandchild's pid")
    orphan = psutil.Process(int(next(line for line in lines if "| left" in line).split()[-1]))
    wait_until(lambda: child.process.poll() is not None, "the child's exit")
    assert orphan.is_running()

    supervisor.keep_running(now=0.1)
    supervisor.keep_running(now=1.1)
    supervisor.stop_all()

    wait_until(
        lambda: not orphan.is_running() or orphan.status() == psutil.STATUS_ZOMBIE,
        "the orphan to be killed",
    )
    assert child.restarts.count == 1


# --- supervise: the loop of `make run` -----------------------------------------------------


@pytest.fixture
def embedded_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def run_supervise(
    supervisor: Supervisor, server: EmbeddedRedis, lines: list[str], backoff: Backoff
) -> tuple[threading.Event, threading.Thread, list[int]]:
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            supervise(supervisor, server, stop, lines.append, backoff=backoff)
        )
    )
    thread.start()
    return stop, thread, result


def test_supervise_restarts_a_killed_redis_on_its_port_with_its_data(
    tmp_path: Path, embedded_redis: EmbeddedRedis
) -> None:
    lines: list[str] = []
    port = embedded_redis.port
    with redis.Redis(port=port) as client:
        client.set("kept", "yes")
        client.execute_command("BGREWRITEAOF")  # on disk now, not within the next second
        wait_until(lambda: client.info("persistence")["aof_rewrite_in_progress"] == 0, "the AOF")
    supervisor = Supervisor(lines.append, cwd=tmp_path)
    stop, thread, result = run_supervise(
        supervisor, embedded_redis, lines, Backoff(first=0.2, maximum=1)
    )
    try:
        old_pid = embedded_redis.pid
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        wait_until(lambda: any("redis started again" in line for line in lines), "the restart")
    finally:
        stop.set()
        thread.join(timeout=20)

    assert result == [0]
    assert embedded_redis.port == port
    assert embedded_redis.pid not in (None, old_pid)
    with redis.Redis(port=port) as client:
        assert client.get("kept") == b"yes"
    assert re.match(r"redis exited on signal SIGKILL after [\d.]+ s \(see .*redis\.log\): "
                    r"restarting it in 0\.2 s", lines[0])  # fmt: skip
    assert lines[1].startswith(f"redis started again on port {port} (pid ")
    assert lines[-1] == "stopping (up to 15 s) ..."


def test_supervise_says_when_redis_cannot_start_again_and_keeps_trying(
    tmp_path: Path, embedded_redis: EmbeddedRedis
) -> None:
    lines: list[str] = []
    port = embedded_redis.port
    supervisor = Supervisor(lines.append, cwd=tmp_path)
    stop, thread, result = run_supervise(
        supervisor, embedded_redis, lines, Backoff(first=0.5, maximum=1)
    )
    try:
        old_pid = embedded_redis.pid
        assert old_pid is not None
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
            os.kill(old_pid, signal.SIGKILL)
            wait_until(lambda: embedded_redis.poll() is not None, "redis to die")
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", port))  # something else took its port meanwhile
            squatter.listen()
            wait_until(lambda: any("did not start again" in line for line in lines), "a failure")
        wait_until(lambda: any("redis started again" in line for line in lines), "the restart")
    finally:
        stop.set()
        thread.join(timeout=20)

    assert result == [0]
    failed = next(line for line in lines if "did not start again" in line)
    assert f"port {port} on 127.0.0.1 is in use" in failed
    assert failed.endswith("trying again in 1 s")  # the wait doubled
    with redis.Redis(port=port) as client:
        assert client.ping()


def test_ctrl_c_while_a_restart_is_pending_starts_nothing_more_and_stops_cleanly(
    tmp_path: Path, embedded_redis: EmbeddedRedis
) -> None:
    lines: list[str] = []
    supervisor = Supervisor(lines.append, cwd=tmp_path)
    steady = supervisor.start("web", python("import time; time.sleep(60)"), os.environ)
    dying = supervisor.start("beat", python("raise SystemExit(2)"), os.environ)
    stop, thread, result = run_supervise(
        supervisor, embedded_redis, lines, Backoff(first=30, maximum=30)
    )
    wait_until(lambda: any(line.startswith("beat exited") for line in lines), "beat's exit")

    stop.set()  # what the SIGINT handler of run_dev does
    thread.join(timeout=10)
    supervisor.stop_all()

    assert result == [0]
    assert not thread.is_alive()
    assert dying.restarts.count == 0
    assert not any("started again" in line for line in lines)
    assert steady.process.returncode == -signal.SIGTERM
    assert lines[-1] == "stopping (up to 15 s) ..."
