"""`make run`: every process of socialbridge on one machine, with nothing installed but Python.

    run_dev(root=Path.cwd())      # what `socialbridge dev` calls

Under ``root/var/`` it keeps what must survive a restart: the SECRET_KEY and the Flower
password (generated once), the SQLite database, the embedded Redis's append-only file and what
the sandbox CRM, the SmartOffice sandbox and the sandbox mail server stored. It starts Redis,
migrates the database, writes ``var/socialbridge.env`` (read by the CLI in another terminal),
starts the sandbox GHL, the sandbox CRM, the SmartOffice sandbox and the sandbox mail server
(an SMTP server with AUTH on loopback, and a page of the messages it took), makes sure the
demo connections exist (`cli.dev.demo_connections`: `demo`, `demo-smartoffice`,
`demo-ixact`, and `demo-oauth`) and that the console has an admin (`cli.dev.console_admin`:
made on the first start, its password printed once), then starts web, worker, beat and
Flower, installs `demo-oauth` through the web process's GHL install (`cli.dev.demo_oauth`:
the sandbox GHL is the marketplace, its app's client id and secret are in the settings) and
prints where to look. From there `cli.dev.supervisor` keeps them up: a process that exits on
its own (Redis included) is started again after a backoff, and Ctrl-C stops everything
together, Redis last.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import click
import httpx

from cli.dev.banner import FLOWER_USER, build_banner
from cli.dev.console_admin import ensure_dev_admin
from cli.dev.demo_connections import (
    TRY_OAUTH_NAME,
    DemoConnection,
    DemoConnectionError,
    demo_crm_url,
    demo_smartoffice_url,
    ensure_demo_connection,
    ensure_demo_ixact_connection,
    ensure_demo_smartoffice_connection,
    register_demo_account,
    try_oauth_secret,
)
from cli.dev.demo_oauth import (
    DEMO_OAUTH_NAME,
    DemoOAuth,
    ensure_demo_oauth_connection,
    fetch_webhook_public_key,
    install_demo_oauth,
    oauth_environment,
)
from cli.dev.places import HOST, DevPaths, DevPorts
from cli.dev.supervisor import Echo, LockedEcho, Supervisor, stop_on_signals, supervise
from socialbridge import urls
from socialbridge.config import Settings
from socialbridge.embedded_redis import EmbeddedRedis, EmbeddedRedisError, port_is_free
from socialbridge.errors import SocialbridgeError

READY_TIMEOUT = 60.0
# gunicorn's settings for the web process (workers, threads, keep-alive), as in the Procfile.
WEB_CONFIG = "python:webapp.gunicorn_conf"
# The install's last hop exchanges the code at the sandbox GHL from the web process.
INSTALL_TIMEOUT = 15.0

# The option of `socialbridge dev` that moves each fixed port, quoted when the port is taken.
PORT_OPTIONS = {
    "web": "--web-port",
    "ghl": "--ghl-port",
    "crm": "--crm-port",
    "smartoffice": "--smartoffice-port",
    "flower": "--flower-port",
    "mail": "--mail-port",
    "smtp": "--smtp-port",
}


class DevServerError(SocialbridgeError):
    """`make run` cannot go on; the message says what to do."""


class StopRequested(Exception):
    """Ctrl-C or SIGTERM arrived while starting up."""


def check_ports_free(ports: DevPorts) -> None:
    """DevServerError naming every fixed port already in use and the option that moves it."""
    taken = [(role, port) for role, port in ports.by_role().items() if not port_is_free(port)]
    if not taken:
        return
    lines = [
        f"port {port} ({role}) is already in use on {HOST}: stop what holds it, or choose "
        f"another with `socialbridge dev {PORT_OPTIONS[role]} <port>`"
        for role, port in taken
    ]
    raise DevServerError("\n".join(lines))


def console_script(name: str) -> str:
    """The console script ``name`` installed beside the running Python (the same venv)."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        raise DevServerError(
            f"{name} is not installed beside {sys.executable}; run `make install` first"
        )
    return str(path)


def display_path(path: str, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (``.venv/bin/socialbridge``), else as is."""
    with contextlib.suppress(ValueError):
        return str(Path(path).relative_to(root))
    return path


# --- secrets and the environment file ----------------------------------------------------


def read_or_create_secret(path: Path) -> str:
    """The secret stored in ``path``; generated once (``token_urlsafe(32)``, mode 0600)."""
    with contextlib.suppress(FileNotFoundError):
        stored = path.read_text().strip()
        if stored:
            return stored
    value = secrets.token_urlsafe(32)
    write_private_file(path, value + "\n")
    return value


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (it holds secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # The mode given to open() only applies to a new file; an old one may have been wider.
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def dev_environment(
    *,
    paths: DevPaths,
    ports: DevPorts,
    redis_url: str,
    secret_key: str,
    flower_password: str,
) -> dict[str, str]:
    """The settings every process of `make run` shares (names are Settings' variables).

    GHL OAuth uses the sandbox GHL's marketplace app; the key its app webhooks are signed
    with is read from the running sandbox and added by `_start_everything`
    (`demo_oauth.oauth_environment`).
    """
    return {
        "DATABASE_URL": paths.database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secret_key,
        "GHL_BASE_URL": ports.ghl_url,
        **oauth_environment(ports.ghl_url),
        "PORT": str(ports.web),
        "PUBLIC_URL": ports.web_url,
        "FLOWER_USER": FLOWER_USER,
        "FLOWER_PASSWORD": flower_password,
        # Plain HTTP on loopback: a Secure cookie would never come back, and no one could
        # sign in to the console.
        "SESSION_COOKIE_SECURE": "false",
    }


def write_env_file(path: Path, env: Mapping[str, str]) -> None:
    """Write ``env`` as KEY=VALUE lines for `read_env_file` (mode 0600: it holds secrets)."""
    lines = [
        "# Written by `socialbridge dev` at each start: the settings of the running processes.",
        "# The CLI reads this file when present, so commands in another terminal use them.",
        *(f"{key}={value}" for key, value in env.items()),
    ]
    write_private_file(path, "\n".join(lines) + "\n")


# --- child processes ---------------------------------------------------------------------


def sandbox_command(
    which: str, port: int, data_dir: Path | None = None, *, smtp_port: int | None = None
) -> list[str]:
    """`python -m sandbox ghl|crm|smartoffice|mail --port N [--data-dir DIR]`, this Python;
    the mail sandbox also takes its SMTP port (``smtp_port``)."""
    command = [sys.executable, "-m", "sandbox", which, "--port", str(port), "--host", HOST]
    if smtp_port is not None:
        command += ["--smtp-port", str(smtp_port)]
    return command if data_dir is None else [*command, "--data-dir", str(data_dir)]


def app_commands(ports: DevPorts) -> dict[str, list[str]]:
    """The Procfile's processes as `make run` starts them (local binds, small pools)."""
    celery = console_script("celery")
    return {
        # The Procfile's web line (its gunicorn settings file) on a local bind.
        "web": [
            console_script("gunicorn"),
            "--config", WEB_CONFIG,
            "--bind", f"{HOST}:{ports.web}",
            "webapp:create_app()",
        ],
        # The pool and its size come from WORKER_POOL and WORKER_CONCURRENCY, as under the
        # Procfile: 32 threads by default.
        "worker": [
            celery, "-A", "workers", "worker",
            "--loglevel", "INFO",
            "--queues", "socialbridge",
            "--hostname", "worker1@%h",
        ],
        "beat": [celery, "-A", "workers", "beat", "--loglevel", "INFO"],
        # `socialbridge flower` reads FLOWER_USER/FLOWER_PASSWORD from the environment file.
        "flower": [
            console_script("socialbridge"), "flower",
            "--address", HOST,
            "--port", str(ports.flower),
        ],
    }  # fmt: skip


# --- waiting for the children to answer --------------------------------------------------


def wait_until_answers(
    http: httpx.Client,
    url: str,
    *,
    name: str,
    supervisor: Supervisor,
    stop: threading.Event,
    timeout: float = READY_TIMEOUT,
) -> None:
    """Return once GET ``url`` succeeds; DevServerError if a child dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if stop.is_set():
            raise StopRequested
        exited = supervisor.first_exited()
        if exited is not None:
            raise DevServerError(
                f"{exited.name} exited with code {exited.process.returncode} while starting"
            )
        with contextlib.suppress(httpx.HTTPError):
            if http.get(url).is_success:
                return
        if time.monotonic() >= deadline:
            raise DevServerError(f"{name} did not answer {url} within {timeout:g} s")
        stop.wait(0.2)


# --- the whole run -----------------------------------------------------------------------


def _start_everything(
    *,
    paths: DevPaths,
    ports: DevPorts,
    redis: EmbeddedRedis,
    supervisor: Supervisor,
    stop: threading.Event,
    echo: Echo,
) -> int:
    from store import migrate

    secret_key = read_or_create_secret(paths.secret_key)
    flower_password = read_or_create_secret(paths.flower_password)

    echo(f"starting Redis (data in {paths.redis_dir}) ...")
    redis.start()
    echo(f"migrating {paths.database_url} ...")
    migrate.upgrade(paths.database_url)

    env = dev_environment(
        paths=paths,
        ports=ports,
        redis_url=redis.url,
        secret_key=secret_key,
        flower_password=flower_password,
    )
    # Unbuffered: each child's lines reach the terminal when written, not when a buffer fills.
    child_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}

    with httpx.Client(timeout=2.0) as http:
        supervisor.start("ghl", sandbox_command("ghl", ports.ghl), child_env)
        # On disk: restarted by the supervisor, each sandbox still knows what it stored (the
        # CRM answers "duplicate" to a write-back it had, SmartOffice still has its SmartPads).
        supervisor.start("crm", sandbox_command("crm", ports.crm, paths.sandbox_crm_dir), child_env)
        supervisor.start(
            "smartoffice",
            sandbox_command("smartoffice", ports.smartoffice, paths.sandbox_smartoffice_dir),
            child_env,
        )
        # The mail sandbox still shows, after a restart, the emails it took before.
        supervisor.start(
            "mail",
            sandbox_command("mail", ports.mail, paths.sandbox_mail_dir, smtp_port=ports.smtp),
            child_env,
        )

        def wait_for(name: str, url: str) -> None:
            wait_until_answers(http, url, name=name, supervisor=supervisor, stop=stop)

        wait_for("ghl", f"{ports.ghl_url}/_sandbox/health")
        env["GHL_WEBHOOK_PUBLIC_KEY"] = fetch_webhook_public_key(http, ports.ghl_url)
        child_env.update(env)
        write_env_file(paths.env_file, env)
        wait_for("crm", f"{ports.crm_url}/")
        wait_for("smartoffice", f"{ports.smartoffice_url}/_sandbox/health")
        # Its SMTP server listens before its HTTP one starts, so this waits for both.
        wait_for("mail", f"{ports.mail_url}/_sandbox/health")

        connection = ensure_demo_connection(
            paths.database_url, secret_key, demo_crm_url(ports.crm_url)
        )
        register_demo_account(http, ports.crm_url, connection.crm_secret)
        smartoffice = ensure_demo_smartoffice_connection(
            paths.database_url, secret_key, demo_smartoffice_url(ports.smartoffice_url)
        )
        ixact = ensure_demo_ixact_connection(paths.database_url, secret_key, ports.smtp)
        oauth_connection = ensure_demo_oauth_connection(
            paths.database_url, secret_key, demo_crm_url(ports.crm_url, DEMO_OAUTH_NAME)
        )
        register_demo_account(
            http, ports.crm_url, oauth_connection.crm_secret, account=DEMO_OAUTH_NAME
        )
        console_admin = ensure_dev_admin(paths.database_url, secret_key)
        try_secret = try_oauth_secret(paths.database_url, secret_key)
        register_demo_account(http, ports.crm_url, try_secret, account=TRY_OAUTH_NAME)

        for name, argv in app_commands(ports).items():
            supervisor.start(name, argv, child_env)
        wait_for("web", f"{ports.web_url}/healthz")
        oauth = install_demo(Settings.from_mapping(env), oauth_connection)

    echo(
        build_banner(
            ports=ports,
            redis_url=redis.url,
            database_url=paths.database_url,
            flower_password=flower_password,
            connection=connection,
            smartoffice=smartoffice,
            ixact=ixact,
            oauth=oauth,
            try_oauth_secret=try_secret,
            console_admin=console_admin,
            socialbridge_command=display_path(console_script("socialbridge"), paths.root),
        )
    )
    return supervise(supervisor, redis, stop, echo)


def install_demo(settings: Settings, connection: DemoConnection) -> DemoOAuth:
    """Install `demo-oauth` through the web process, as a person would; a failure is told in
    the banner rather than stopping `make run` (the other demos work without it)."""
    install_url = urls.install_url(settings, connection.id)
    if connection.ghl_auth != "oauth":
        problem = f"it authorizes with {connection.ghl_auth}, not OAuth; delete var/ to recreate it"
        return DemoOAuth(connection, install_url, installed=False, problem=problem)
    try:
        with httpx.Client(timeout=INSTALL_TIMEOUT) as http:
            install_demo_oauth(http, install_url)
    except DemoConnectionError as error:
        return DemoOAuth(connection, install_url, installed=False, problem=str(error))
    return DemoOAuth(connection, install_url, installed=True)


def run_dev(
    *,
    root: Path,
    web_port: int = 8000,
    ghl_port: int = 8010,
    crm_port: int = 8020,
    smartoffice_port: int = 8030,
    flower_port: int = 5555,
    mail_port: int = 8040,
    smtp_port: int = 8025,
    echo: Echo = click.echo,
) -> int:
    """Run every process of socialbridge from the project folder ``root`` until Ctrl-C.

    Returns 0 after a requested stop, 1 when something failed to start. A process that exits
    once everything runs is started again (see `supervise`).
    """
    ports = DevPorts(
        web=web_port,
        ghl=ghl_port,
        crm=crm_port,
        smartoffice=smartoffice_port,
        flower=flower_port,
        mail=mail_port,
        smtp=smtp_port,
    )
    paths = DevPaths.under(root)
    say = LockedEcho(echo)
    stop = threading.Event()
    with stop_on_signals(stop):
        try:
            check_ports_free(ports)
        except DevServerError as error:
            say(f"error: {error}")
            return 1
        redis = EmbeddedRedis(paths.redis_dir)
        supervisor = Supervisor(say, cwd=paths.root)
        try:
            return _start_everything(
                paths=paths, ports=ports, redis=redis, supervisor=supervisor, stop=stop, echo=say
            )
        except StopRequested:
            say("stopping (up to 15 s) ...")
            return 0
        except (DevServerError, DemoConnectionError, EmbeddedRedisError) as error:
            say(f"error: {error}")
            return 1
        finally:
            supervisor.stop_all()
            # Last: the worker and beat must not lose their broker while finishing up.
            redis.stop()
