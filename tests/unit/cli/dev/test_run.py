"""`make run`'s start: paths, secrets, the environment file, ports, the banner, the child
commands (the sandboxes among them, the mail sandbox too) and waiting for them to answer.

The demo connections themselves are tested in test_demo_connections.py."""

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
from click.testing import CliRunner

from cli.dev.banner import DEMO_EVENT_TYPES, build_banner
from cli.dev.demo_connections import (
    DEMO_IXACT_SENDER,
    DEMO_LOCATION_ID,
    DemoConnection,
    demo_ixact_settings,
    demo_smartoffice_settings,
    demo_smartoffice_url,
    register_demo_account,
)
from cli.dev.demo_oauth import DemoOAuth
from cli.dev.places import DevPaths, DevPorts
from cli.dev.run import (
    DevServerError,
    StopRequested,
    app_commands,
    check_ports_free,
    dev_environment,
    read_or_create_secret,
    run_dev,
    sandbox_command,
    wait_until_answers,
    write_env_file,
)
from cli.dev.supervisor import Supervisor
from cli.main import main
from console.demo import DEMO_IXACT_CONTACT_EMAIL
from crm.connector import WriteBack
from crm.ixact.settings import NOTES_ADDRESS
from crm.registry import build_connector, load_settings
from sandbox.mail.state import DEMO_SMTP_USER
from sandbox.smartoffice.state import DEMO_CONTACT_ID
from socialbridge.config import Settings, read_env_file
from socialbridge.embedded_redis import free_port
from store import Store, migrate
from workers.services import StoreLedger


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def free_ports(**taken: int) -> DevPorts:
    """Free ports for every role, but those given."""
    ports = {role: free_port() for role in DevPorts().by_role()}
    return DevPorts(**{**ports, **taken})


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- paths, secrets, environment ---------------------------------------------------------


def test_paths_live_under_var_and_the_database_url_is_absolute(tmp_path: Path) -> None:
    paths = DevPaths.under(tmp_path)

    assert paths.var == tmp_path.resolve() / "var"
    assert paths.redis_dir == paths.var / "redis"
    assert paths.sandbox_crm_dir == paths.var / "sandbox-crm"
    assert paths.sandbox_smartoffice_dir == paths.var / "sandbox-smartoffice"
    assert paths.sandbox_mail_dir == paths.var / "sandbox-mail"
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


def test_the_fixed_ports_by_default_and_by_role() -> None:
    ports = DevPorts()

    assert ports.by_role() == {
        "web": 8000, "ghl": 8010, "crm": 8020, "smartoffice": 8030, "flower": 5555,
        "mail": 8040, "smtp": 8025,
    }  # fmt: skip
    assert ports.smartoffice_url == "http://127.0.0.1:8030"
    assert ports.mail_url == "http://127.0.0.1:8040"


def test_a_taken_port_is_named_with_the_option_that_moves_it(busy_port: int) -> None:
    ports = free_ports(crm=busy_port)

    with pytest.raises(DevServerError) as raised:
        check_ports_free(ports)

    message = str(raised.value)
    assert f"port {busy_port} (crm) is already in use" in message
    assert "--crm-port" in message
    assert "--web-port" not in message


def test_a_taken_smartoffice_port_names_its_option(busy_port: int) -> None:
    ports = free_ports(smartoffice=busy_port)

    with pytest.raises(DevServerError) as raised:
        check_ports_free(ports)

    assert str(raised.value) == (
        f"port {busy_port} (smartoffice) is already in use on 127.0.0.1: stop what holds it, "
        "or choose another with `socialbridge dev --smartoffice-port <port>`"
    )


@pytest.mark.parametrize(("role", "option"), [("mail", "--mail-port"), ("smtp", "--smtp-port")])
def test_a_taken_mail_sandbox_port_names_its_option(busy_port: int, role: str, option: str) -> None:
    ports = free_ports(**{role: busy_port})

    with pytest.raises(DevServerError) as raised:
        check_ports_free(ports)

    assert str(raised.value) == (
        f"port {busy_port} ({role}) is already in use on 127.0.0.1: stop what holds it, "
        f"or choose another with `socialbridge dev {option} <port>`"
    )


def test_run_dev_fails_fast_when_a_port_is_taken(tmp_path: Path, busy_port: int) -> None:
    lines: list[str] = []

    code = run_dev(
        root=tmp_path,
        web_port=busy_port,
        ghl_port=free_port(),
        crm_port=free_port(),
        smartoffice_port=free_port(),
        flower_port=free_port(),
        mail_port=free_port(),
        smtp_port=free_port(),
        echo=lines.append,
    )

    assert code == 1
    assert any(f"port {busy_port} (web)" in line and "--web-port" in line for line in lines)
    # Nothing was started or written.
    assert not (tmp_path / "var").exists()


def test_run_dev_checks_the_smtp_port_before_starting_anything(
    tmp_path: Path, busy_port: int
) -> None:
    lines: list[str] = []
    others = free_ports()

    code = run_dev(
        root=tmp_path,
        web_port=others.web,
        ghl_port=others.ghl,
        crm_port=others.crm,
        smartoffice_port=others.smartoffice,
        flower_port=others.flower,
        mail_port=others.mail,
        smtp_port=busy_port,
        echo=lines.append,
    )

    assert code == 1
    assert lines == [
        f"error: port {busy_port} (smtp) is already in use on 127.0.0.1: stop what holds it, "
        "or choose another with `socialbridge dev --smtp-port <port>`"
    ]
    assert not (tmp_path / "var").exists()


# --- the banner --------------------------------------------------------------------------


def demo_connection(crm_url: str = "http://127.0.0.1:8020/hooks/demo") -> DemoConnection:
    return DemoConnection(id="con_123", crm_url=crm_url, crm_secret="whsec_x", created=True)


def smartoffice_connection(
    crm_url: str = "http://127.0.0.1:8030/xml", *, shipped_mapping: bool = True
) -> DemoConnection:
    return DemoConnection(
        id="con_456",
        crm_url=crm_url,
        crm_secret="",
        created=True,
        name="demo-smartoffice",
        crm_kind="smartoffice",
        shipped_mapping=shipped_mapping,
    )


def ixact_connection(
    crm_url: str = "smtp://127.0.0.1:8025", *, shipped_mapping: bool = True
) -> DemoConnection:
    return DemoConnection(
        id="con_789",
        crm_url=crm_url,
        crm_secret="",
        created=True,
        name="demo-ixact",
        crm_kind="ixact",
        shipped_mapping=shipped_mapping,
    )


def oauth_demo(
    crm_url: str = "http://127.0.0.1:8020/hooks/demo-oauth", *, problem: str | None = None
) -> DemoOAuth:
    connection = DemoConnection(
        id="con_abc",
        crm_url=crm_url,
        crm_secret="whsec_y",
        created=True,
        name="demo-oauth",
        ghl_auth="oauth",
    )
    return DemoOAuth(
        connection,
        "http://127.0.0.1:8000/oauth/ghl/start?connection=con_abc",
        installed=problem is None,
        problem=problem,
    )


def banner_for(
    ports: DevPorts | None = None,
    connection: DemoConnection | None = None,
    smartoffice: DemoConnection | None = None,
    ixact: DemoConnection | None = None,
    oauth: DemoOAuth | None = None,
) -> str:
    return build_banner(
        ports=ports or DevPorts(),
        redis_url="redis://127.0.0.1:40000/0",
        database_url="sqlite:////project/var/socialbridge.db",
        flower_password="flower-pw",
        connection=connection or demo_connection(),
        smartoffice=smartoffice or smartoffice_connection(),
        ixact=ixact or ixact_connection(),
        oauth=oauth or oauth_demo(),
        socialbridge_command=".venv/bin/socialbridge",
        try_oauth_secret="whsec_dHJ5LW9hdXRoLXNlY3JldA==",
    )


def test_banner_names_every_url_the_credentials_and_the_next_steps() -> None:
    banner = banner_for()

    assert "http://127.0.0.1:8000/\n" in banner
    assert "http://127.0.0.1:8020/" in banner
    assert "http://127.0.0.1:5555/" in banner
    assert "user admin, password flower-pw" in banner
    assert "con_123" in banner
    assert "http://127.0.0.1:8000/webhooks/crm/con_123" in banner
    for kind in DEMO_EVENT_TYPES:
        assert f".venv/bin/socialbridge demo send {kind}\n" in banner
    assert "redis://127.0.0.1:40000/0" in banner
    assert "Note:" not in banner


def test_banner_shows_the_smartoffice_sandbox_and_its_demo_connection() -> None:
    lines = banner_for().splitlines()

    assert "  SmartOffice page  http://127.0.0.1:8030/   (the SmartOffice sandbox)" in lines
    assert "  demo-smartoffice  con_456 (location loc_demo, SmartOffice CRM)" in lines
    assert "  Its webhook URL   http://127.0.0.1:8000/webhooks/crm/con_456   Bearer token" in lines
    assert "  Its write-backs   SmartPads through http://127.0.0.1:8030/xml" in lines
    # The next step for it comes after the demo connection's, with the page to look at.
    send = lines.index(
        "    .venv/bin/socialbridge demo send post.published --connection demo-smartoffice"
    )
    assert lines[send + 1] == (
        "  then open the SmartOffice sandbox page, http://127.0.0.1:8030/, to see its SmartPad."
    )
    assert send > lines.index("    .venv/bin/socialbridge demo send statistics.requested")


def test_banner_shows_the_mail_sandbox_and_demo_ixact_with_its_next_step() -> None:
    lines = banner_for(ports=DevPorts(mail=8140, smtp=8125), ixact=ixact_connection(
        "smtp://127.0.0.1:8125"
    )).splitlines()  # fmt: skip

    assert (
        "  Mail sandbox      http://127.0.0.1:8140/   (SMTP 127.0.0.1:8125; JSON at /messages)"
        in (lines)
    )
    block = lines.index("  demo-ixact        con_789 (location loc_demo, IXACT Contact CRM)")
    assert lines[block + 1 : block + 4] == [
        "  Its webhook URL   http://127.0.0.1:8000/webhooks/crm/con_789   Bearer token",
        "  Its write-backs   emails through smtp://127.0.0.1:8125 (kept by the mail sandbox),",
        "                    From agent@example.com, To the contact, sent to "
        "notes@ixactcontact.com only",
    ]
    send = lines.index(
        "    .venv/bin/socialbridge demo send post.published --connection demo-ixact"
    )
    assert lines[send + 1] == (
        "  then open the mail sandbox page, http://127.0.0.1:8140/, to see the email IXACT "
        "would file."
    )
    # After the other demo connections' steps, before the end.
    assert send > lines.index(
        "    .venv/bin/socialbridge demo send post.published --connection demo-smartoffice"
    )
    assert lines[send + 2] == (
        "    .venv/bin/socialbridge demo send post.published --connection demo-oauth"
    )
    assert not any(line.startswith("Note:") for line in lines)


def test_banner_shows_demo_oauth_and_how_to_install_one() -> None:
    lines = banner_for().splitlines()

    block = lines.index("  demo-oauth        con_abc (location loc_demo, GHL by OAuth)")
    assert lines[block + 1 : block + 4] == [
        "  Its webhook URL   http://127.0.0.1:8000/webhooks/crm/con_abc   signed (Standard "
        "Webhooks)",
        "  Its write-backs   http://127.0.0.1:8020/hooks/demo-oauth",
        "  Its install URL   http://127.0.0.1:8000/oauth/ghl/start?connection=con_abc   "
        "(installed at this start)",
    ]
    send = lines.index(
        "    .venv/bin/socialbridge demo send post.published --connection demo-oauth"
    )
    assert lines[send + 1 : send + 7] == [
        "  the same flow with GHL's OAuth tokens (see: .venv/bin/socialbridge connections "
        "show demo-oauth).",
        "  To install one yourself, with the sandbox GHL's marketplace app:",
        "    .venv/bin/socialbridge connections add --name my-oauth --auth oauth --location-id "
        "loc_demo \\",
        "        --crm-url http://127.0.0.1:8020/hooks/my-oauth "
        "--crm-secret whsec_dHJ5LW9hdXRoLXNlY3JldA==",
        "  then open the install URL it prints: on the sandbox's page, approve loc_demo.",
        "",
    ]
    assert lines[send + 7] == "Ctrl-C stops everything."


def test_banner_says_when_demo_oauth_could_not_be_installed() -> None:
    banner = banner_for(oauth=oauth_demo(problem="the OAuth callback answered HTTP 502: GHL"))

    assert "(not installed: see the note)" in banner
    assert banner.splitlines()[-1] == (
        "Note: demo-oauth was not installed at this start: the OAuth callback answered HTTP "
        "502: GHL. Open its install URL to try again; until then its events wait."
    )


def test_banner_warns_when_demo_oauth_points_at_another_crm_port() -> None:
    banner = banner_for(ports=DevPorts(crm=8120), connection=demo_connection(
        "http://127.0.0.1:8120/hooks/demo"
    ))  # fmt: skip

    assert banner.splitlines()[-1] == (
        "Note: the demo-oauth connection writes back to http://127.0.0.1:8020/hooks/demo-oauth, "
        "not to this run's sandbox CRM (http://127.0.0.1:8120/hooks/demo-oauth); delete var/ "
        "to recreate it."
    )


def test_banner_warns_when_demo_ixact_points_at_another_smtp_port_or_mapping() -> None:
    banner = banner_for(ports=DevPorts(smtp=8125), ixact=ixact_connection(shipped_mapping=False))

    assert banner.splitlines()[-2:] == [
        "Note: the demo-ixact connection writes back to smtp://127.0.0.1:8025, not to this "
        "run's sandbox mail server (smtp://127.0.0.1:8125); delete var/ to recreate it.",
        "Note: the demo-ixact connection's mapping is not the one `make run` ships, so "
        "`demo send` needs --body FILE for it; delete var/ to recreate it.",
    ]


def test_banner_warns_when_the_demo_connection_points_at_another_crm_port() -> None:
    banner = banner_for(
        ports=DevPorts(crm=8120), oauth=oauth_demo("http://127.0.0.1:8120/hooks/demo-oauth")
    )

    assert banner.splitlines()[-1] == (
        "Note: the demo connection writes back to http://127.0.0.1:8020/hooks/demo, not to "
        "this run's sandbox CRM (http://127.0.0.1:8120/hooks/demo); delete var/ to recreate it."
    )


def test_banner_warns_when_demo_smartoffice_points_at_another_port_or_mapping() -> None:
    banner = banner_for(
        ports=DevPorts(smartoffice=8130),
        smartoffice=smartoffice_connection(shipped_mapping=False),
    )

    assert banner.splitlines()[-2:] == [
        "Note: the demo-smartoffice connection writes back to http://127.0.0.1:8030/xml, not to "
        "this run's SmartOffice sandbox (http://127.0.0.1:8130/xml); delete var/ to recreate "
        "it.",
        "Note: the demo-smartoffice connection's mapping is not the one `make run` ships, "
        "so `demo send` needs --body FILE for it; delete var/ to recreate it.",
    ]


# --- commands ----------------------------------------------------------------------------


def test_app_commands_bind_locally_and_protect_flower() -> None:
    commands = app_commands(DevPorts(web=8100, flower=5655))

    assert set(commands) == {"web", "worker", "beat", "flower"}
    venv_bin = Path(sys.executable).parent
    assert all(Path(argv[0]).parent == venv_bin for argv in commands.values())
    assert commands["web"][1:] == [
        "--config", "python:webapp.gunicorn_conf", "--bind", "127.0.0.1:8100",
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


def tags_synced_writeback(key: str) -> WriteBack:
    return WriteBack(
        type="post.tags_synced",
        idempotency_key=key,
        data={
            "post_id": "crm-post-1",
            "location_id": DEMO_LOCATION_ID,
            "ghl_post_id": None,
            "tags": [{"id": "t1", "name": "Listing"}],
            "post_tags": [],
            "synced_at": "2026-11-23T10:00:05Z",
        },
        record={"contact_id": DEMO_CONTACT_ID},
    )


def test_the_smartoffice_sandbox_child_keeps_its_smartpads_across_a_restart(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = DevPaths.under(tmp_path).sandbox_smartoffice_dir
    settings = load_settings("smartoffice", demo_smartoffice_settings())
    lines: list[str] = []
    seen: list[list[str]] = []
    with httpx.Client(timeout=2.0) as http:
        for life in range(2):
            supervisor = Supervisor(lines.append, cwd=tmp_path)
            supervisor.start(
                "smartoffice", sandbox_command("smartoffice", port, data_dir), os.environ
            )
            try:
                wait_until_answers(
                    http,
                    f"{base}/_sandbox/health",
                    name="smartoffice",
                    supervisor=supervisor,
                    stop=threading.Event(),
                )
                if life == 0:
                    # What demo-smartoffice's connector does for a write-back.
                    connector = build_connector(
                        "smartoffice",
                        url=demo_smartoffice_url(base),
                        settings=settings,
                        app_settings=Settings(),
                    )
                    try:
                        connector.write(tags_synced_writeback("evt_1.post.tags_synced"))
                    finally:
                        connector.close()
                pads = http.get(f"{base}/_sandbox/smartpads").json()
                seen.append([pad["ContactID"] for pad in pads])
            finally:
                supervisor.stop_all()

    # The second life wrote nothing: it read the SmartPad back from var/sandbox-smartoffice.
    assert seen == [[DEMO_CONTACT_ID], [DEMO_CONTACT_ID]]
    assert any(line.startswith("smartoffice") and base in line for line in lines)


def test_the_mail_sandbox_command_takes_its_smtp_port_and_data_folder(tmp_path: Path) -> None:
    data_dir = DevPaths.under(tmp_path).sandbox_mail_dir

    argv = sandbox_command("mail", 8040, data_dir, smtp_port=8025)

    assert argv == [
        sys.executable, "-m", "sandbox", "mail", "--port", "8040", "--host", "127.0.0.1",
        "--smtp-port", "8025", "--data-dir", str(data_dir),
    ]  # fmt: skip


def ixact_writeback(key: str) -> WriteBack:
    """A tags write-back for the demo contact, as demo-ixact's mapping names it."""
    return WriteBack(
        type="post.tags_synced",
        idempotency_key=key,
        data={
            "post_id": "crm-post-1",
            "location_id": DEMO_LOCATION_ID,
            "ghl_post_id": None,
            "tags": [{"id": "t1", "name": "Listing"}],
            "post_tags": [],
            "synced_at": "2026-11-23T10:00:05Z",
        },
        record={"contact_email": DEMO_IXACT_CONTACT_EMAIL, "title": "Open house"},
    )


def test_the_mail_sandbox_child_takes_demo_ixacts_email_and_keeps_it_across_a_restart(
    tmp_path: Path,
) -> None:
    http_port, smtp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{http_port}"
    paths = DevPaths.under(tmp_path)
    migrate.upgrade(paths.database_url)
    store = Store(paths.database_url, "k" * 43)
    connection = store.create_connection(
        name="demo-ixact", location_id=DEMO_LOCATION_ID, ghl_token="pit", crm_kind="ixact"
    )
    settings = load_settings("ixact", demo_ixact_settings(smtp_port))
    lines: list[str] = []
    seen: list[list[tuple[str, str, list[str], str]]] = []
    try:
        with httpx.Client(timeout=2.0) as http:
            for life in range(2):
                supervisor = Supervisor(lines.append, cwd=tmp_path)
                command = sandbox_command(
                    "mail", http_port, paths.sandbox_mail_dir, smtp_port=smtp_port
                )
                supervisor.start("mail", command, os.environ)
                try:
                    wait_until_answers(
                        http,
                        f"{base}/_sandbox/health",
                        name="mail",
                        supervisor=supervisor,
                        stop=threading.Event(),
                    )
                    if life == 0:
                        # What demo-ixact's connector does for a write-back, in a worker.
                        connector = build_connector(
                            "ixact",
                            url="",
                            settings=settings,
                            app_settings=Settings(),
                            ledger=StoreLedger(store, connection.id),
                        )
                        try:
                            connector.write(ixact_writeback("evt_1.post.tags_synced"))
                        finally:
                            connector.close()
                    seen.append(
                        [
                            (m["from"], m["to"], m["envelope_to"], m["auth_user"])
                            for m in http.get(f"{base}/messages").json()
                        ]
                    )
                finally:
                    supervisor.stop_all()
    finally:
        store.dispose()

    # The sandbox's seed login sent it as the demo's authorized sender; only IXACT's capture
    # address was a recipient. The second life sent nothing: it read var/sandbox-mail back.
    one = (DEMO_IXACT_SENDER, DEMO_IXACT_CONTACT_EMAIL, [NOTES_ADDRESS], DEMO_SMTP_USER)
    assert seen == [[one], [one]]
    assert f"mail   | sandbox mail listening on {base}/" in lines
    assert f"mail   | sandbox mail smtp listening on 127.0.0.1:{smtp_port}" in lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--smtp-port", "0"), "Invalid value for '--smtp-port': 0 is not in the range "
         "1<=x<=65535."),
        (("--mail-port", "65536"), "Invalid value for '--mail-port': 65536 is not in the range "
         "1<=x<=65535."),
        (("--smtp-port", "8040"), "--mail-port and --smtp-port are both 8040: each process "
         "needs a port of its own"),
        (("--mail-port", "8000"), "--web-port and --mail-port are both 8000: each process "
         "needs a port of its own"),
    ],
)  # fmt: skip
def test_dev_refuses_a_mail_sandbox_port_out_of_range_or_taken_by_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["dev", *args])

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: {message}"
    assert not (tmp_path / "var").exists()  # refused before anything started


def test_make_run_serves_the_session_cookie_over_plain_http(tmp_path: Path) -> None:
    env = dev_environment(
        paths=DevPaths.under(tmp_path),
        ports=DevPorts(),
        redis_url="redis://127.0.0.1:40000/0",
        secret_key="k" * 43,
        flower_password="p" * 43,
    )

    assert Settings.from_env(env).session_cookie_secure is False


def test_the_first_start_makes_an_admin_and_the_banner_shows_its_password_once(
    tmp_path: Path,
) -> None:
    from cli.dev.console_admin import DEV_ADMIN_EMAIL, ensure_dev_admin
    from store import Store
    from tests.dbutil import temporary_database

    with temporary_database("sqlite", tmp_path, upgrade=True) as (url, _):
        first = ensure_dev_admin(url, "k" * 43)
        again = ensure_dev_admin(url, "k" * 43)
        store = Store(url, "k" * 43)
        try:
            assert first is not None
            assert store.verify_user_password(DEV_ADMIN_EMAIL, first.password) is not None
        finally:
            store.dispose()

    assert again is None
    made = build_banner(
        ports=DevPorts(),
        redis_url="redis://127.0.0.1:40000/0",
        database_url="sqlite:////project/var/socialbridge.db",
        flower_password="flower-pw",
        connection=demo_connection(),
        smartoffice=smartoffice_connection(),
        ixact=ixact_connection(),
        oauth=oauth_demo(),
        socialbridge_command=".venv/bin/socialbridge",
        try_oauth_secret="whsec_dHJ5LW9hdXRoLXNlY3JldA==",
        console_admin=first,
    )
    later = banner_for()
    assert f"  Sign in           as {DEV_ADMIN_EMAIL}, password {first.password}\n" in made
    assert first.password not in later
    assert "  Sign in           as a user of `.venv/bin/socialbridge users list`" in later
