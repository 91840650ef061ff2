"""`make run`'s start: paths, secrets, the environment file, ports, the demo connection, the
banner, the child commands and waiting for them to answer."""

from __future__ import annotations

import os
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.dev.run import (
    DEMO_EVENT_TYPES,
    DemoConnection,
    DevPaths,
    DevPorts,
    DevServerError,
    StopRequested,
    app_commands,
    build_banner,
    check_ports_free,
    demo_crm_url,
    dev_environment,
    ensure_demo_connection,
    read_or_create_secret,
    register_demo_account,
    run_dev,
    sandbox_command,
    wait_until_answers,
    write_env_file,
)
from cli.dev.supervisor import Supervisor
from socialbridge.config import Settings, read_env_file
from socialbridge.embedded_redis import free_port
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


# --- waiting for the children to answer --------------------------------------------------


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


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
