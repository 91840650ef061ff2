from __future__ import annotations

import os
import re
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from cli.dev.run import (
    DEMO_EVENT_TYPES,
    Backoff,
    DemoConnection,
    DevPaths,
    DevPorts,
    DevServerError,
    Restarts,
    StopRequested,
    Supervisor,
    app_commands,
    build_banner,
    check_ports_free,
    demo_crm_url,
    describe_exit,
    dev_environment,
    ensure_demo_connection,
    read_or_create_secret,
    register_demo_account,
    run_dev,
    sandbox_command,
    supervise,
    wait_until_answers,
    write_env_file,
)
from socialbridge.config import Settings, read_env_file
from socialbridge.embedded_redis import EmbeddedRedis, free_port
from store import migrate


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def free_ports() -> DevPorts:
    return DevPorts(web=free_port(), ghl=free_port(), crm=free_port(), flower=free_port())


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- paths, secrets, environment ---------------------------------------------------------


def test_paths_live_under_var_and_the_database_url_is_absolute(tmp_path: Path) -> None:
    paths = DevPaths.under(tmp_path)

    assert paths.var == tmp_path.resolve() / "var"
    assert paths.redis_dir == paths.var / "redis"
    assert paths.database_url == f"sqlite:///{tmp_path.resolve()}/var/socialbridge.db"
    assert paths.database_url.startswith("sqlite:////")


def test_secret_is_generated_once_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret_key"

    first = read_or_create_secret(path)
    second = read_or_create_secret(path)

    assert first == second
    assert len(first) >= 40
    assert mode_of(path) == 0o600


def test_two_secrets_differ(tmp_path: Path) -> None:
    assert read_or_create_secret(tmp_path / "a") != read_or_create_secret(tmp_path / "b")


def test_dev_environment_is_what_settings_read(tmp_path: Path) -> None:
    paths = DevPaths.under(tmp_path)
    ports = DevPorts(web=8100, ghl=8110, crm=8120, flower=5655)

    env = dev_environment(
        paths=paths,
        ports=ports,
        redis_url="redis://127.0.0.1:40000/0",
        secret_key="k" * 43,
        flower_password="p" * 43,
    )
    settings = Settings.from_env(env)

    assert settings.database_url == paths.database_url
    assert settings.redis_url == "redis://127.0.0.1:40000/0"
    assert settings.ghl_base_url == "http://127.0.0.1:8110"
    assert settings.port == 8100
    assert settings.base_url == "http://127.0.0.1:8100"
    assert settings.secret_key == "k" * 43
    assert (settings.flower_user, settings.flower_password) == ("admin", "p" * 43)


def test_env_file_round_trips_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "socialbridge.env"
    env = {"DATABASE_URL": "sqlite:////tmp/x.db", "SECRET_KEY": "a=b", "PORT": "8000"}

    write_env_file(path, env)

    assert read_env_file(path) == env
    assert mode_of(path) == 0o600
    assert path.read_text().startswith("#")


def test_read_env_file_skips_blanks_and_comments_and_unquotes(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text(
        "# a comment\n\n  \nexport PORT=8000\n  REDIS_URL = redis://h:1/0 \nPUBLIC_URL='http://x'\n"
        'LOG_LEVEL="DEBUG"\nEMPTY=\n'
    )

    assert read_env_file(path) == {
        "PORT": "8000",
        "REDIS_URL": "redis://h:1/0",
        "PUBLIC_URL": "http://x",
        "LOG_LEVEL": "DEBUG",
        "EMPTY": "",
    }


def test_read_env_file_names_a_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text("PORT=8000\nnot a setting\n")

    with pytest.raises(ValueError, match=r"x\.env:2: expected KEY=VALUE"):
        read_env_file(path)


# --- ports ----------------------------------------------------------------------------------


def test_free_ports_pass(tmp_path: Path) -> None:
    check_ports_free(free_ports())


def test_a_taken_port_is_named_with_the_option_that_moves_it(busy_port: int) -> None:
    ports = DevPorts(web=free_port(), ghl=free_port(), crm=busy_port, flower=free_port())

    with pytest.raises(DevServerError) as raised:
        check_ports_free(ports)

    message = str(raised.value)
    assert f"port {busy_port} (crm) is already in use" in message
    assert "--crm-port" in message
    assert "--web-port" not in message


def test_run_dev_fails_fast_when_a_port_is_taken(tmp_path: Path, busy_port: int) -> None:
    lines: list[str] = []

    code = run_dev(
        root=tmp_path,
        web_port=busy_port,
        ghl_port=free_port(),
        crm_port=free_port(),
        flower_port=free_port(),
        echo=lines.append,
    )

    assert code == 1
    assert any(f"port {busy_port} (web)" in line and "--web-port" in line for line in lines)
    # Nothing was started or written.
    assert not (tmp_path / "var").exists()


# --- the demo connection ---------------------------------------------------------------


def test_demo_connection_is_created_once_then_reused(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(database_url)
    secret_key = "s" * 43
    crm_url = demo_crm_url(DevPorts(crm=8120))

    first = ensure_demo_connection(database_url, secret_key, crm_url)
    second = ensure_demo_connection(database_url, secret_key, crm_url)

    assert first.created
    assert not second.created
    assert second.id == first.id
    assert second.crm_secret == first.crm_secret
    assert first.crm_secret.startswith("whsec_")
    assert first.crm_url == "http://127.0.0.1:8120/hooks/demo"


def test_demo_connection_under_another_secret_key_says_what_to_do(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(database_url)
    ensure_demo_connection(database_url, "s" * 43, "http://127.0.0.1:8020/hooks/demo")

    with pytest.raises(DevServerError, match="delete var/"):
        ensure_demo_connection(database_url, "t" * 43, "http://127.0.0.1:8020/hooks/demo")


# --- the banner --------------------------------------------------------------------------


def demo_connection(crm_url: str = "http://127.0.0.1:8020/hooks/demo") -> DemoConnection:
    return DemoConnection(id="con_123", crm_url=crm_url, crm_secret="whsec_x", created=True)


def test_banner_names_every_url_the_credentials_and_the_next_steps() -> None:
    banner = build_banner(
        ports=DevPorts(),
        redis_url="redis://127.0.0.1:40000/0",
        database_url="sqlite:////project/var/socialbridge.db",
        flower_password="flower-pw",
        connection=demo_connection(),
        socialbridge_command=".venv/bin/socialbridge",
    )

    assert "http://127.0.0.1:8000/\n" in banner
    assert "http://127.0.0.1:8020/" in banner
    assert "http://127.0.0.1:5555/" in banner
    assert "user admin, password flower-pw" in banner
    assert "con_123" in banner
    assert "http://127.0.0.1:8000/webhooks/crm/con_123" in banner
    for kind in DEMO_EVENT_TYPES:
        assert f".venv/bin/socialbridge demo send {kind}" in banner
    assert "redis://127.0.0.1:40000/0" in banner
    assert "Note:" not in banner


def test_banner_warns_when_the_demo_connection_points_at_another_crm_port() -> None:
    banner = build_banner(
        ports=DevPorts(crm=8120),
        redis_url="redis://127.0.0.1:40000/0",
        database_url="sqlite:////project/var/socialbridge.db",
        flower_password="pw",
        connection=demo_connection("http://127.0.0.1:8020/hooks/demo"),
        socialbridge_command="socialbridge",
    )

    assert "Note: the demo connection writes back to http://127.0.0.1:8020/hooks/demo" in banner


# --- commands ----------------------------------------------------------------------------


def test_app_commands_bind_locally_and_protect_flower() -> None:
    commands = app_commands(DevPorts(web=8100, flower=5655))

    assert set(commands) == {"web", "worker", "beat", "flower"}
    venv_bin = Path(sys.executable).parent
    assert all(Path(argv[0]).parent == venv_bin for argv in commands.values())
    assert commands["web"][1:] == [
        "--bind", "127.0.0.1:8100", "--workers", "2", "--access-logfile", "-",
        "webapp:create_app()",
    ]  # fmt: skip
    assert "--queues" in commands["worker"]
    assert commands["worker"][commands["worker"].index("--queues") + 1] == "socialbridge"
    # `socialbridge flower` adds the basic auth from FLOWER_USER / FLOWER_PASSWORD.
    assert commands["flower"][1:] == ["flower", "--address", "127.0.0.1", "--port", "5655"]


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


def test_wait_until_answers_reports_a_child_that_died(tmp_path: Path) -> None:
    supervisor = Supervisor(lambda line: None, cwd=tmp_path)
    supervisor.start("ghl", python("raise SystemExit(2)"), os.environ)

    with (
        httpx.Client(timeout=0.5) as http,
        pytest.raises(DevServerError, match="ghl exited with code 2"),
    ):
        wait_until_answers(
            http,
            f"http://127.0.0.1:{free_port()}/",
            name="ghl",
            supervisor=supervisor,
            stop=threading.Event(),
        )
    supervisor.stop_all()


def test_wait_until_answers_gives_up_after_its_timeout(tmp_path: Path) -> None:
    supervisor = Supervisor(lambda line: None, cwd=tmp_path)
    url = f"http://127.0.0.1:{free_port()}/healthz"

    with (
        httpx.Client(timeout=0.5) as http,
        pytest.raises(DevServerError, match="web did not answer"),
    ):
        wait_until_answers(
            http, url, name="web", supervisor=supervisor, stop=threading.Event(), timeout=0.3
        )


def test_wait_until_answers_stops_when_asked(tmp_path: Path) -> None:
    supervisor = Supervisor(lambda line: None, cwd=tmp_path)
    stop = threading.Event()
    stop.set()

    with httpx.Client(timeout=0.5) as http, pytest.raises(StopRequested):
        wait_until_answers(
            http, f"http://127.0.0.1:{free_port()}/", name="web", supervisor=supervisor, stop=stop
        )


def test_sandbox_crm_child_answers_and_learns_the_demo_account(tmp_path: Path) -> None:
    lines: list[str] = []
    supervisor = Supervisor(lines.append, cwd=tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    supervisor.start("crm", sandbox_command("crm", port), os.environ)
    try:
        with httpx.Client(timeout=2.0) as http:
            wait_until_answers(
                http, f"{base}/", name="crm", supervisor=supervisor, stop=threading.Event()
            )
            secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
            register_demo_account(http, base, secret)
            register_demo_account(http, base, secret)  # every start does it again
            accounts = http.get(f"{base}/_sandbox/accounts").json()
    finally:
        supervisor.stop_all()

    assert [entry["account"] for entry in accounts] == ["demo"]
    assert f"crm    | sandbox crm listening on {base}/" in lines
    assert supervisor.children[0].process.returncode == 0


def test_the_sandbox_crm_child_keeps_what_it_stored_across_a_restart(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "var" / "sandbox-crm"
    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    with httpx.Client(timeout=2.0) as http:
        for life in range(2):
            supervisor = Supervisor(lambda line: None, cwd=tmp_path)
            supervisor.start("crm", sandbox_command("crm", port, data_dir), os.environ)
            try:
                wait_until_answers(
                    http, f"{base}/", name="crm", supervisor=supervisor, stop=threading.Event()
                )
                if life == 0:
                    register_demo_account(http, base, secret)
                accounts = http.get(f"{base}/_sandbox/accounts").json()
            finally:
                supervisor.stop_all()

    # The second life never registered the account: it read it back from its data folder.
    assert [entry["account"] for entry in accounts] == ["demo"]


def test_register_demo_account_explains_a_refusal(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"errors": {"secret": ["bad"]}})

    with (
        httpx.Client(transport=httpx.MockTransport(refuse)) as http,
        pytest.raises(DevServerError, match="refused the demo account \\(422\\)"),
    ):
        register_demo_account(http, "http://crm.test", "whsec_bad")


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
