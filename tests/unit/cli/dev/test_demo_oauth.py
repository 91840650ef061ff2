"""`make run`'s GHL OAuth: the sandbox's marketplace app in the settings, and `demo-oauth`
installed through a real web process and a real sandbox GHL, over HTTP, as a person would."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cli.dev import demo_oauth
from cli.dev.demo_connections import DEMO_LOCATION_ID, DemoConnectionError
from cli.dev.demo_oauth import (
    DEMO_OAUTH_NAME,
    ensure_demo_oauth_connection,
    fetch_webhook_public_key,
    install_demo_oauth,
    oauth_environment,
)
from cli.dev.places import DevPaths, DevPorts
from cli.dev.run import dev_environment, install_demo, write_env_file
from ghl.app_webhooks import configured_public_keys, load_ed25519_public_key
from ghl.endpoints import OAUTH_SCOPES
from sandbox.ghl import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_WEBHOOK_PUBLIC_KEY_PEM,
    create_sandbox_ghl_app,
)
from sandbox.server import ServerThread
from socialbridge import urls
from socialbridge.config import Settings, read_env_file
from socialbridge.embedded_redis import free_port
from store import Store, migrate
from webapp import create_app

SECRET_KEY = "dev-oauth-test-secret-key"


def test_the_sandbox_apps_credentials_are_copied_exactly() -> None:
    assert (demo_oauth.SANDBOX_CLIENT_ID, demo_oauth.SANDBOX_CLIENT_SECRET) == (
        SANDBOX_CLIENT_ID,
        SANDBOX_CLIENT_SECRET,
    )


def test_dev_environment_points_oauth_at_the_sandboxs_app(tmp_path: Path) -> None:
    ports = DevPorts(web=8100, ghl=8110)

    env = dev_environment(
        paths=DevPaths.under(tmp_path),
        ports=ports,
        redis_url="redis://127.0.0.1:40000/0",
        secret_key="k" * 43,
        flower_password="p" * 43,
    )
    settings = Settings.from_env(env)

    assert (settings.ghl_client_id, settings.ghl_client_secret) == (
        SANDBOX_CLIENT_ID,
        SANDBOX_CLIENT_SECRET,
    )
    assert settings.ghl_oauth_authorize_url == "http://127.0.0.1:8110/v2/oauth/chooselocation"
    assert oauth_environment(ports.ghl_url) == {
        key: env[key] for key in ("GHL_CLIENT_ID", "GHL_CLIENT_SECRET", "GHL_OAUTH_AUTHORIZE_URL")
    }


def test_the_sandbox_client_accepts_the_redirect_uri_of_any_make_run_port() -> None:
    sandbox = create_sandbox_ghl_app().extensions["sandbox_ghl"]
    client = sandbox.oauth.client(SANDBOX_CLIENT_ID)
    assert client is not None

    for port in (8000, 8100, 41234):
        settings = Settings.from_mapping({"public_url": DevPorts(web=port).web_url})
        assert client.allows(urls.oauth_redirect_uri(settings))


def test_the_webhook_public_key_is_the_sandboxs_on_one_line_of_the_env_file(
    tmp_path: Path,
) -> None:
    with ServerThread(create_sandbox_ghl_app()) as ghl, httpx.Client() as http:
        key = fetch_webhook_public_key(http, ghl.url)

    assert "\n" not in key
    assert key.replace("\\n", "\n") == SANDBOX_WEBHOOK_PUBLIC_KEY_PEM.strip()
    path = tmp_path / "socialbridge.env"
    write_env_file(path, {"GHL_WEBHOOK_PUBLIC_KEY": key})
    settings = Settings.from_env({}, env_file=path)
    assert read_env_file(path) == {"GHL_WEBHOOK_PUBLIC_KEY": key}
    # What the web process verifies app webhooks with.
    ed25519_pem, _ = configured_public_keys(settings)
    assert load_ed25519_public_key(ed25519_pem) == load_ed25519_public_key(
        SANDBOX_WEBHOOK_PUBLIC_KEY_PEM
    )


@dataclass
class Running:
    settings: Settings
    store: Store
    ghl_url: str


@pytest.fixture
def running(tmp_path: Path, redis_url: str) -> Iterator[Running]:
    """A sandbox GHL and a web process configured as `make run` configures them."""
    database_url = f"sqlite:///{tmp_path / 'socialbridge.db'}"
    migrate.upgrade(database_url)
    web_port = free_port()
    with ServerThread(create_sandbox_ghl_app()) as ghl, httpx.Client() as http:
        env = dev_environment(
            paths=DevPaths.under(tmp_path),
            ports=DevPorts(web=web_port, ghl=ghl.port),
            redis_url=redis_url,
            secret_key=SECRET_KEY,
            flower_password="flower",
        )
        env.update(DATABASE_URL=database_url, LOG_LEVEL="WARNING")
        env["GHL_WEBHOOK_PUBLIC_KEY"] = fetch_webhook_public_key(http, ghl.url)
        settings = Settings.from_mapping(env)
        app = create_app(settings)
        store = Store(database_url, SECRET_KEY)
        try:
            with ServerThread(app, port=web_port):
                yield Running(settings, store, ghl.url)
        finally:
            store.dispose()
            app.extensions["socialbridge"].dispose()
            app.extensions["celery"].close()


def test_demo_oauth_is_installed_through_the_web_process_and_again_at_the_next_start(
    running: Running,
) -> None:
    connection = ensure_demo_oauth_connection(
        running.settings.database_url, SECRET_KEY, "http://127.0.0.1:8020/hooks/demo-oauth"
    )
    before = running.store.get_connection(connection.id)
    assert before is not None
    assert (before.name, before.ghl_auth, before.status) == (
        DEMO_OAUTH_NAME,
        "oauth",
        "needs_reauth",
    )

    first = install_demo(running.settings, connection)
    installed = running.store.get_connection(connection.id)
    # The next start of `make run` finds it and installs it again (the sandbox forgot it).
    again = ensure_demo_oauth_connection(
        running.settings.database_url, SECRET_KEY, "http://127.0.0.1:8020/hooks/demo-oauth"
    )
    second = install_demo(running.settings, again)
    reinstalled = running.store.get_connection(connection.id)

    assert (first.installed, first.problem) == (True, None)
    assert first.install_url == urls.install_url(running.settings, connection.id)
    assert installed is not None
    assert (installed.status, installed.location_id) == ("active", DEMO_LOCATION_ID)
    assert installed.scopes == OAUTH_SCOPES
    assert installed.ghl_token
    assert installed.ghl_refresh_token
    assert (again.id, again.created, second.installed) == (connection.id, False, True)
    assert reinstalled is not None
    assert reinstalled.token_generation == installed.token_generation + 1
    assert reinstalled.ghl_refresh_token != installed.ghl_refresh_token
    counts = httpx.get(f"{running.ghl_url}/_sandbox/oauth").json()["counts"]
    assert counts["authorization_code_grants"] == 2


def test_a_failed_install_is_a_note_for_the_banner_not_the_end_of_make_run(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'socialbridge.db'}"
    migrate.upgrade(database_url)
    settings = Settings.from_mapping(
        {"database_url": database_url, "public_url": f"http://127.0.0.1:{free_port()}"}
    )
    connection = ensure_demo_oauth_connection(database_url, SECRET_KEY, "http://crm.test/hooks/x")

    result = install_demo(settings, connection)

    assert not result.installed
    assert result.problem is not None
    assert result.problem.startswith("the install URL did not answer: ")


def test_an_install_the_web_process_refuses_quotes_its_page(running: Running) -> None:
    with httpx.Client() as http, pytest.raises(DemoConnectionError) as raised:
        install_demo_oauth(http, urls.install_url(running.settings, "con_0000000000000000"))

    assert str(raised.value).startswith("the install URL answered HTTP 404: ")
    assert "No such connection" in str(raised.value)
    assert "<" not in str(raised.value)
