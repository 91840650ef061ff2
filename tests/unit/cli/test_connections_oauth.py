"""`socialbridge connections` with GHL OAuth: add --auth oauth, show, check, disconnect.

Every test runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set. Tokens come from
the sandbox GHL's own OAuth server (its chooselocation page and /oauth/token, over HTTP), which
grants the scopes asked for and no more, so a token lacking one is a real one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ghl.endpoints import OAUTH_SCOPES, SCOPE_TAGS
from sandbox.ghl import DEFAULT_LOCATION, SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from store import ConnectionRecord, LocationMismatch
from store.connections import NOT_INSTALLED_REASON
from tests.dbutil import database_params, temporary_database
from tests.unit.cli.conftest import PUBLIC_URL, Cli, lines

OAUTH_ENV = {"GHL_CLIENT_ID": SANDBOX_CLIENT_ID, "GHL_CLIENT_SECRET": SANDBOX_CLIENT_SECRET}
REDIRECT_URI = f"{PUBLIC_URL}/oauth/ghl/callback"
ADD_OAUTH = ("connections", "add", "--name", "acme", "--auth", "oauth",
             "--crm-url", "https://crm.example/hooks/acme")  # fmt: skip
GHL_FIELDS = {"auth", "scopes", "token_expires_at", "last_refresh_at", "company_id"}


@pytest.fixture(scope="module", params=database_params())
def cli_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """This module's store: SQLite, and PostgreSQL when configured (the `cli` fixture's)."""
    with temporary_database(request.param, tmp_path_factory.mktemp("cli-oauth"), upgrade=True) as (
        url,
        _,
    ):
        yield url


@pytest.fixture
def oauth_cli(cli: Cli) -> Cli:
    cli.env.update(OAUTH_ENV)
    return cli


def install_url(connection_id: str) -> str:
    return f"{PUBLIC_URL}/oauth/ghl/start?connection={connection_id}"


def sandbox_grant(ghl_url: str, scopes: tuple[str, ...], location: str) -> dict[str, Any]:
    """A token answer of the sandbox GHL for ``location``, approved on its install page."""
    page = httpx.get(
        f"{ghl_url}/oauth/chooselocation",
        params={
            "response_type": "code",
            "client_id": SANDBOX_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": " ".join(scopes),
            "state": "test-state",
            "location_id": location,
            "approve": "1",
        },
    )
    assert page.status_code == 302, page.text
    [code] = parse_qs(urlsplit(page.headers["location"]).query)["code"]
    answer = httpx.post(
        f"{ghl_url}/oauth/token",
        data={
            "client_id": SANDBOX_CLIENT_ID,
            "client_secret": SANDBOX_CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": code,
            "user_type": "Location",
            "redirect_uri": REDIRECT_URI,
        },
    )
    assert answer.status_code == 200, answer.text
    granted: dict[str, Any] = answer.json()
    return granted


def install(
    cli: Cli,
    connection: ConnectionRecord,
    scopes: tuple[str, ...] = OAUTH_SCOPES,
    location: str = DEFAULT_LOCATION,
) -> ConnectionRecord:
    """Store what the sandbox granted, as the OAuth callback does once it has the tokens."""
    granted = sandbox_grant(cli.sandboxes.ghl_url, scopes, location)
    record, _ = cli.store.save_oauth_tokens(
        connection.id,
        access_token=granted["access_token"],
        refresh_token=granted["refresh_token"],
        expires_at=datetime.now(UTC) + timedelta(seconds=granted["expires_in"]),
        scopes=granted["scope"].split(),
        location_id=granted["locationId"],
        company_id=granted["companyId"],
        authorized=True,
    )
    return record


def oauth_connection(cli: Cli, name: str = "acme", **overrides: Any) -> ConnectionRecord:
    return cli.connection(name, ghl_auth="oauth", ghl_token="", location_id="", **overrides)


# --- add --------------------------------------------------------------------------------------


def test_add_oauth_prints_the_install_url_and_stores_no_token(oauth_cli: Cli) -> None:
    result = oauth_cli(*ADD_OAUTH)

    assert result.exit_code == 0, result.output
    [connection] = oauth_cli.store.list_connections()
    assert lines(result.output) == [
        f"created connection {connection.id} (acme): "
        "Any CRM that receives signed webhooks (Standard Webhooks)",
        "  GHL:             OAuth, any location the installer chooses; not installed yet",
        f"  install URL:     {install_url(connection.id)}",
        "                   (open it, choose the location and approve)",
        f"  webhook URL:     {PUBLIC_URL}/webhooks/crm/{connection.id}",
        f"  webhook secret:  {connection.webhook_secrets[0]}   (the CRM signs events with it)",
        f"  CRM secret:      {connection.crm_secret}   (write-backs are signed with it)",
        "  statistics sync: every 86400 s (beat picks it up within a minute)",
        "events the CRM sends before the install completes wait, and run once it does",
        "once installed, check both sides with: socialbridge connections check acme",
    ]
    assert (connection.ghl_auth, connection.status) == ("oauth", "needs_reauth")
    assert connection.status_reason == NOT_INSTALLED_REASON
    assert (connection.location_id, connection.ghl_token, connection.ghl_refresh_token) == (
        "",
        "",
        None,
    )


def test_add_oauth_json_has_what_a_program_needs(oauth_cli: Cli) -> None:
    result = oauth_cli(*ADD_OAUTH, "--location-id", DEFAULT_LOCATION, "--json")

    assert result.exit_code == 0, result.output
    [connection] = oauth_cli.store.list_connections()
    assert json.loads(result.output) == {
        "id": connection.id,
        "name": "acme",
        "auth": "oauth",
        "location_id": DEFAULT_LOCATION,
        "status": "needs_reauth",
        "crm_kind": "webhook",
        "inbound_auth": "signature",
        "webhook_url": f"{PUBLIC_URL}/webhooks/crm/{connection.id}",
        "install_url": install_url(connection.id),
        "webhook_secret": connection.webhook_secrets[0],
        "crm_secret": connection.crm_secret,
        "crm_settings": {"secret": "***"},
        "mapping": False,
        "stats_interval_seconds": 86400,
    }
    assert connection.location_id == DEFAULT_LOCATION


def test_add_oauth_with_a_location_prints_it_and_refuses_an_install_of_another(
    oauth_cli: Cli,
) -> None:
    result = oauth_cli(*ADD_OAUTH, "--location-id", DEFAULT_LOCATION)
    [connection] = oauth_cli.store.list_connections()

    assert result.exit_code == 0, result.output
    assert "  GHL:             OAuth, location loc_demo; not installed yet" in lines(result.output)
    assert "                   (open it, choose loc_demo and approve)" in lines(result.output)
    with pytest.raises(LocationMismatch):
        oauth_cli.store.save_oauth_tokens(
            connection.id,
            access_token="at",
            refresh_token="rt",
            expires_at=datetime.now(UTC) + timedelta(days=1),
            scopes=list(OAUTH_SCOPES),
            location_id="loc_other",
            company_id="comp_1",
            authorized=True,
        )


def test_add_oauth_with_an_inbound_token_hands_over_the_token(oauth_cli: Cli) -> None:
    result = oauth_cli(*ADD_OAUTH, "--inbound-auth", "token", "--json")

    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    [connection] = oauth_cli.store.list_connections()
    assert shown["inbound_token"] == connection.inbound_token
    assert "webhook_secret" not in shown
    assert shown["install_url"] == install_url(connection.id)


def test_add_oauth_refuses_a_ghl_token(oauth_cli: Cli) -> None:
    result = oauth_cli(*ADD_OAUTH, "--ghl-token", "pit-sandbox-demo")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == (
        "Error: Invalid value for '--ghl-token': an OAuth connection gets its tokens from the "
        "install (add prints its URL); leave it out, or use --auth pit"
    )
    assert oauth_cli.store.list_connections() == []


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        (("GHL_CLIENT_ID",), "GHL_CLIENT_ID"),
        (("GHL_CLIENT_SECRET",), "GHL_CLIENT_SECRET"),
        (("GHL_CLIENT_ID", "GHL_CLIENT_SECRET"), "GHL_CLIENT_ID and GHL_CLIENT_SECRET"),
    ],
)
def test_add_oauth_without_the_apps_credentials_names_the_settings(
    oauth_cli: Cli, unset: tuple[str, ...], named: str
) -> None:
    result = oauth_cli(*ADD_OAUTH, **dict.fromkeys(unset))

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: configuration: {named} not set: --auth oauth installs your GHL marketplace "
        "app and needs its client id and secret (docs/ghl-auth.md)\n"
    )
    assert oauth_cli.store.list_connections() == []


def test_add_pit_does_not_need_the_apps_credentials(cli: Cli) -> None:
    result = cli(
        "connections", "add", "--name", "acme", "--auth", "pit", "--location-id", "loc_demo",
        "--ghl-token", "pit-sandbox-demo", "--crm-url", "https://crm.example/hooks/acme",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "install URL" not in result.output
    assert cli.store.list_connections()[0].ghl_auth == "pit"


# --- list and show ----------------------------------------------------------------------------


def test_show_of_an_oauth_connection_not_installed_yet(oauth_cli: Cli) -> None:
    connection = oauth_connection(oauth_cli)

    shown = json.loads(oauth_cli("connections", "show", "acme", "--json").output)
    plain = lines(oauth_cli("connections", "show", "acme").output)

    assert {key: shown[key] for key in (*GHL_FIELDS, "status", "status_reason", "location_id")} == {
        "auth": "oauth",
        "status": "needs_reauth",
        "status_reason": NOT_INSTALLED_REASON,
        "location_id": None,
        "scopes": [],
        "token_expires_at": None,
        "last_refresh_at": None,
        "company_id": None,
    }
    assert shown["install_url"] == install_url(connection.id)
    assert f"{'install_url:':<24}{install_url(connection.id)}" in plain
    assert f"{'location_id:':<24}-" in plain
    assert f"{'auth:':<24}oauth" in plain


def test_show_of_an_installed_oauth_connection_never_prints_a_token(oauth_cli: Cli) -> None:
    installed = install(oauth_cli, oauth_connection(oauth_cli))
    assert installed.ghl_refresh_token is not None

    outputs = {
        args: oauth_cli("connections", *args)
        for args in (
            ("show", "acme"),
            ("show", "acme", "--json"),
            ("show", "acme", "--secrets"),
            ("show", "acme", "--secrets", "--json"),
            ("list",),
            ("list", "--json"),
        )
    }

    for args, result in outputs.items():
        assert result.exit_code == 0, (args, result.output)
        assert installed.ghl_token not in result.output, args
        assert installed.ghl_refresh_token not in result.output, args
    shown = json.loads(outputs[("show", "acme", "--secrets", "--json")].output)
    assert "ghl_token" not in shown
    # The other secrets are still there on request.
    assert shown["webhook_secrets"] == list(installed.webhook_secrets)
    assert installed.token_expires_at is not None
    assert {key: shown[key] for key in GHL_FIELDS} == {
        "auth": "oauth",
        "scopes": list(OAUTH_SCOPES),
        "token_expires_at": installed.token_expires_at.isoformat(),
        "last_refresh_at": None,
        "company_id": installed.company_id,
    }
    assert (shown["status"], shown["status_reason"], shown["location_id"]) == (
        "active",
        None,
        DEFAULT_LOCATION,
    )
    plain = lines(outputs[("show", "acme")].output)
    assert f"{'scopes:':<24}{', '.join(OAUTH_SCOPES)}" in plain
    [listed] = json.loads(outputs[("list", "--json")].output)
    assert listed == json.loads(outputs[("show", "acme", "--json")].output)


def test_show_of_a_pit_connection_has_no_install_url_and_its_token_only_on_request(
    cli: Cli,
) -> None:
    connection = cli.connection("acme")

    shown = json.loads(cli("connections", "show", "acme", "--json").output)
    secrets = json.loads(cli("connections", "show", "acme", "--json", "--secrets").output)

    assert "install_url" not in shown
    assert (shown["auth"], shown["scopes"], shown["token_expires_at"]) == ("pit", [], None)
    assert "ghl_token" not in shown
    assert secrets["ghl_token"] == connection.ghl_token


def test_list_shows_how_each_connection_authorizes(oauth_cli: Cli) -> None:
    pit = oauth_cli.connection("acme")
    oauth = oauth_connection(oauth_cli, "globex")

    result = oauth_cli("connections", "list")

    assert result.exit_code == 0
    rows = [re.split(r" {2,}", line.strip()) for line in lines(result.output)[1:]]
    assert [row[:4] for row in rows] == [
        [pit.id, "acme", "loc_demo", "pit"],
        [oauth.id, "globex", "-", "oauth"],
    ]
    assert rows[1][6] == "needs_reauth"


# --- check ------------------------------------------------------------------------------------


def test_check_of_an_oauth_connection_with_every_scope(oauth_cli: Cli) -> None:
    install(oauth_cli, oauth_connection(oauth_cli))

    result = oauth_cli("connections", "check", "acme")

    assert result.exit_code == 0, result.output
    stdout = lines(result.stdout)
    assert stdout[:4] == [
        f"GHL  scopes granted: {' '.join(OAUTH_SCOPES)}",
        "GHL  ok scopes: every scope the flows need",
        "GHL  ok accounts: location loc_demo, 6 social accounts (5 with a profile id)",
        "GHL  ok tags: 250 tags",
    ]
    assert stdout[4].startswith("GHL  ok tag details: tag ")
    assert stdout[5].startswith("GHL  ok statistics: 5 profile(s)")
    assert stdout[6].startswith("GHL  ok statistics (v3, dates): 5 profile(s)")
    assert result.stderr == ""


def test_check_names_the_scope_the_token_lacks(oauth_cli: Cli) -> None:
    scopes = tuple(scope for scope in OAUTH_SCOPES if scope != SCOPE_TAGS)
    installed = install(oauth_cli, oauth_connection(oauth_cli), scopes=scopes)

    result = oauth_cli("connections", "check", "acme")

    assert result.exit_code == 1
    assert lines(result.stderr) == [
        f"GHL  FAILED scopes: missing {SCOPE_TAGS}",
        f"GHL  FAILED tags: the token lacks scope {SCOPE_TAGS}",
        "GHL  grant the missing scopes by installing again (the app must ask for them): "
        + install_url(installed.id),
    ]
    stdout = lines(result.stdout)
    assert stdout[0] == f"GHL  scopes granted: {' '.join(scopes)}"
    assert "GHL  skipped tag details: needs a tag id, and tags failed" in stdout
    # The calls its scopes allow still run.
    assert "GHL  ok accounts: location loc_demo, 6 social accounts (5 with a profile id)" in stdout
    assert any(line.startswith("GHL  ok statistics: 5 profile(s)") for line in stdout)
    assert installed.ghl_refresh_token is not None
    for token in (installed.ghl_token, installed.ghl_refresh_token):
        assert token not in result.output


def test_check_of_a_connection_without_a_token_says_how_to_give_it_one(oauth_cli: Cli) -> None:
    connection = oauth_connection(oauth_cli)

    result = oauth_cli("connections", "check", "acme")

    assert result.exit_code == 1
    assert lines(result.stderr)[:2] == [
        "GHL  FAILED scopes: missing " + " ".join(OAUTH_SCOPES),
        "GHL  FAILED token: acme has no GHL token (needs_reauth: not installed yet); authorize "
        f"it by opening {install_url(connection.id)} (choose the location and approve); its "
        "waiting events run once the install completes",
    ]
    assert lines(result.stdout)[0] == "GHL  scopes granted: none"


# --- disconnect -------------------------------------------------------------------------------


def test_disconnect_of_a_pit_connection_deletes_its_token_and_says_how_to_reconnect(
    cli: Cli,
) -> None:
    connection = cli.connection("acme")

    result = cli("connections", "disconnect", "acme", "--yes")

    assert result.exit_code == 0, result.output
    assert lines(result.output) == [
        f"disconnected {connection.id} (acme): its GHL tokens are deleted, its events wait; "
        "its statistics schedule stops within a minute",
        "reconnect it with: socialbridge connections update acme --ghl-token TOKEN, then: "
        "socialbridge connections activate acme (its waiting events run then)",
    ]
    after = cli.store.get_connection(connection.id)
    assert after is not None
    assert (after.status, after.ghl_token) == ("disconnected", "")
    assert after.status_reason == "disconnected with `socialbridge connections disconnect`"


def test_disconnect_of_an_oauth_connection_stops_its_refreshes(oauth_cli: Cli) -> None:
    installed = install(oauth_cli, oauth_connection(oauth_cli))
    far = datetime.now(UTC) + timedelta(days=2)
    assert oauth_cli.store.oauth_refresh_due(far) == [installed.id]

    result = oauth_cli("connections", "disconnect", "acme", "--yes")

    assert result.exit_code == 0, result.output
    assert lines(result.output) == [
        f"disconnected {installed.id} (acme): its GHL tokens are deleted, its events wait; "
        "its token refreshes stop, its statistics schedule within a minute",
        f"authorize it by opening {install_url(installed.id)} (choose loc_demo and approve); "
        "its waiting events run once the install completes",
    ]
    after = oauth_cli.store.get_connection(installed.id)
    assert after is not None
    assert (after.status, after.ghl_token, after.ghl_refresh_token, after.scopes) == (
        "disconnected",
        "",
        None,
        (),
    )
    assert oauth_cli.store.oauth_refresh_due(far) == []
    assert installed.ghl_token not in result.output


def test_disconnect_asks_first_and_a_no_keeps_the_tokens(cli: Cli) -> None:
    connection = cli.connection("acme")

    result = cli("connections", "disconnect", "acme", input="n\n")

    assert result.exit_code == 1
    assert result.output.startswith(
        f"Disconnect acme ({connection.id}) from GHL? Its GHL tokens are deleted and its "
        "events wait until it is authorized again [y/N]: n\n"
    )
    assert cli.store.get_connection(connection.id) == connection


def test_disconnect_of_a_disconnected_connection_says_so(cli: Cli) -> None:
    connection = cli.connection("acme")
    cli.store.disconnect_connection(connection.id, "GHL uninstalled the app")

    result = cli("connections", "disconnect", "acme")

    assert result.exit_code == 0
    assert lines(result.output)[0] == f"{connection.id} (acme) is disconnected already"


def test_update_refuses_a_ghl_token_for_an_oauth_connection(oauth_cli: Cli) -> None:
    connection = oauth_connection(oauth_cli)

    result = oauth_cli("connections", "update", "acme", "--ghl-token", "pit-sandbox-demo")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == (
        "Error: Invalid value for '--ghl-token': an OAuth connection gets its tokens from the "
        f"install, at: {install_url(connection.id)}"
    )
    assert oauth_cli.store.get_connection(connection.id) == connection


def test_a_new_token_for_a_disconnected_pit_connection_says_to_check_then_activate(
    cli: Cli,
) -> None:
    connection = cli.connection("acme")
    cli.store.disconnect_connection(connection.id, "disconnected")

    result = cli("connections", "update", "acme", "--ghl-token", "pit-sandbox-demo")

    assert result.exit_code == 0, result.output
    assert lines(result.output)[1] == (
        "it is still disconnected; check the new token with: socialbridge connections check "
        "acme, then resume it and its waiting events with: socialbridge connections activate acme"
    )
    after = cli.store.get_connection(connection.id)
    assert after is not None
    assert (after.status, after.ghl_token) == ("disconnected", "pit-sandbox-demo")


# --- the docs show what the command prints ----------------------------------------------------

DOCS = Path(__file__).parents[3] / "docs"
DOC_URL = "https://bridge.example.com"


@pytest.mark.parametrize("doc", ["connectors.md", "ghl-auth.md"])
def test_the_docs_oauth_add_prints_what_the_doc_shows(oauth_cli: Cli, doc: str) -> None:
    text = (DOCS / doc).read_text(encoding="utf-8")
    (block,) = re.findall(r"```\n(created connection con_9a1b[^`]*)```", text)
    documented = str(block).splitlines()

    result = oauth_cli(
        "connections", "add", "--name", "acme", "--auth", "oauth", "--location-id", "loc_123",
        "--crm-url", "https://crm.example.com/hooks/social",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    [connection] = oauth_cli.store.list_connections()
    doc_id = re.search(r"con_[0-9a-f]{16}", documented[0])
    assert doc_id is not None
    shown = result.output.replace(connection.id, doc_id.group()).replace(PUBLIC_URL, DOC_URL)
    assert lines(re.sub(r"whsec_\S+", "whsec_…", shown)) == documented
