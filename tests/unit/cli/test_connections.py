"""`socialbridge connections add|list|show|check|update|rotate-secret|remove` of webhook CRMs.

SmartOffice connections, inbound tokens, settings and mappings: test_connections_crm.py.
"""

from __future__ import annotations

import json
import re

import pytest

from socialbridge.embedded_redis import free_port
from store import Store
from tests.unit.cli.conftest import PUBLIC_URL, Cli, columns, lines

ADD = (
    "connections",
    "add",
    "--name",
    "acme",
    "--location-id",
    "loc_demo",
    "--ghl-token",
    "pit-sandbox-demo",
    "--crm-url",
    "https://crm.example/hooks/acme",
)

PUBLIC_FIELDS = {
    "id",
    "name",
    "location_id",
    "auth",
    "scopes",
    "token_expires_at",
    "last_refresh_at",
    "company_id",
    "crm_kind",
    "crm_url",
    "crm_settings",
    "inbound_auth",
    "mapping",
    "stats_interval_seconds",
    "status",
    "status_reason",
    "created_at",
    "updated_at",
    "webhook_url",
}


def plain_words(value: object) -> str:
    """How the plain form writes a JSON value of `show --json`."""
    if value is None or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items())
    return str(value)


# --- add ------------------------------------------------------------------------------------


def test_add_prints_the_webhook_url_and_both_secrets(cli: Cli) -> None:
    result = cli(*ADD)

    assert result.exit_code == 0, result.output
    [connection] = cli.store.list_connections()
    assert lines(result.output) == [
        f"created connection {connection.id} (acme): "
        "Any CRM that receives signed webhooks (Standard Webhooks)",
        f"  webhook URL:     {PUBLIC_URL}/webhooks/crm/{connection.id}",
        f"  webhook secret:  {connection.webhook_secrets[0]}   (the CRM signs events with it)",
        f"  CRM secret:      {connection.crm_secret}   (write-backs are signed with it)",
        "  statistics sync: every 86400 s (beat picks it up within a minute)",
        "check both sides with: socialbridge connections check acme",
    ]
    assert connection.location_id == "loc_demo"
    assert connection.ghl_token == "pit-sandbox-demo"
    assert connection.crm_url == "https://crm.example/hooks/acme"
    assert connection.crm_kind == "webhook"
    assert connection.webhook_secrets[0].startswith("whsec_")


def test_add_json_is_what_a_program_needs(cli: Cli) -> None:
    result = cli(*ADD, "--json")

    assert result.exit_code == 0, result.output
    [connection] = cli.store.list_connections()
    # What the plain form prints, with the kind and inbound mode by name; the CRM secret is
    # handed over in full once, so the settings (which hold it) show it masked.
    assert json.loads(result.output) == {
        "id": connection.id,
        "name": "acme",
        "auth": "pit",
        "location_id": "loc_demo",
        "status": "active",
        "crm_kind": "webhook",
        "inbound_auth": "signature",
        "webhook_url": f"{PUBLIC_URL}/webhooks/crm/{connection.id}",
        "webhook_secret": connection.webhook_secrets[0],
        "crm_secret": connection.crm_secret,
        "crm_settings": {"secret": "***"},
        "mapping": False,
        "stats_interval_seconds": 86400,
    }


def test_add_keeps_a_given_crm_secret_and_interval(cli: Cli) -> None:
    secret = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"

    result = cli(*ADD, "--crm-secret", secret, "--stats-interval", "3600")

    assert result.exit_code == 0, result.output
    [connection] = cli.store.list_connections()
    assert connection.crm_secret == secret
    assert connection.stats_interval_seconds == 3600
    assert "  statistics sync: every 3600 s (beat picks it up within a minute)" in lines(
        result.output
    )


def test_add_takes_the_default_interval_from_the_settings(cli: Cli) -> None:
    result = cli(*ADD, STATS_INTERVAL_SECONDS="7200")

    assert result.exit_code == 0, result.output
    assert cli.store.list_connections()[0].stats_interval_seconds == 7200


def test_add_refuses_a_name_in_use(cli: Cli) -> None:
    cli.connection("acme")

    result = cli(*ADD)

    assert result.exit_code == 1
    assert result.stderr == "Error: a connection named 'acme' exists already\n"
    assert len(cli.store.list_connections()) == 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--crm-url", "ftp://crm.example/x", "expected an http(s) URL, got 'ftp://crm.example/x'"),
        ("--crm-url", "crm.example/x", "expected an http(s) URL, got 'crm.example/x'"),
        ("--crm-secret", "hunter2", "expected a Standard Webhooks secret starting with whsec_"),
        (
            "--crm-url",
            "http://[::1/x",
            "expected an http(s) URL, got 'http://[::1/x': Invalid IPv6 URL",
        ),
        (
            "--crm-url",
            "http://crm.example:99999/x",
            "expected an http(s) URL, got 'http://crm.example:99999/x': Port out of range 0-65535",
        ),
        ("--crm-secret", "whsec_not base64!", "a webhook secret is 'whsec_' followed by base64"),
        ("--name", "   ", "must not be empty"),
        (
            "--name",
            "con_0123456789abcdef",
            "'con_0123456789abcdef' looks like a connection id "
            "(con_…); choose a name that does not start with it",
        ),
        (
            "--name",
            "CON_acme",
            "'CON_acme' looks like a connection id (con_…); choose a name "
            "that does not start with it",
        ),
        ("--name", "a" * 201, "at most 200 characters, got 201"),
        ("--name", "ac\x07me", "control character '\\x07' at position 2 is not allowed"),
        ("--location-id", "", "must not be empty"),
        ("--location-id", "l" * 101, "at most 100 characters, got 101"),
        ("--ghl-token", " ", "must not be empty"),
        ("--stats-interval", "60", "60 is not in the range 300<=x<=2678400."),
        ("--stats-interval", "299", "299 is not in the range 300<=x<=2678400."),
        ("--stats-interval", "2678401", "2678401 is not in the range 300<=x<=2678400."),
        (
            "--stats-interval",
            "9223372036854775807",
            "9223372036854775807 is not in the range 300<=x<=2678400.",
        ),
        (
            "--stats-interval",
            "99999999999999999999",
            "99999999999999999999 is not in the range 300<=x<=2678400.",
        ),
        ("--stats-interval", "-1", "-1 is not in the range 300<=x<=2678400."),
        ("--stats-interval", "1.5", "'1.5' is not a valid integer range."),
    ],
)
def test_add_refuses_bad_options_naming_them(
    cli: Cli, option: str, value: str, message: str
) -> None:
    result = cli(*ADD, option, value)

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == f"Error: Invalid value for '{option}': {message}"
    assert cli.store.list_connections() == []


@pytest.mark.parametrize("option", ["--crm", "--crm-kind"])
def test_add_refuses_an_unknown_crm_kind_naming_the_known_ones(cli: Cli, option: str) -> None:
    result = cli(*ADD, option, "salesforce")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == (
        "Error: Invalid value for '--crm' / '--crm-kind': "
        "'salesforce' is not one of 'webhook', 'smartoffice', 'ixact'."
    )
    assert cli.store.list_connections() == []


@pytest.mark.parametrize("seconds", ["300", "2678400"])
def test_add_takes_both_ends_of_the_interval_range(cli: Cli, seconds: str) -> None:
    result = cli(*ADD, "--stats-interval", seconds)

    assert result.exit_code == 0, result.output
    assert cli.store.list_connections()[0].stats_interval_seconds == int(seconds)


def test_add_with_an_interval_setting_out_of_range_says_which_setting(cli: Cli) -> None:
    result = cli(*ADD, STATS_INTERVAL_SECONDS="60")

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: configuration: STATS_INTERVAL_SECONDS: must be from 300 (5 minutes) "
        "to 2678400 (31 days), got 60\n"
    )
    assert cli.store.list_connections() == []


def test_a_name_like_another_connections_id_is_refused_so_remove_cannot_mix_them_up(
    cli: Cli,
) -> None:
    first = cli.connection("first")

    named_like_id = cli(*ADD[:2], "--name", first.id, *ADD[4:])
    removed = cli("connections", "remove", first.id, "--yes")

    assert named_like_id.exit_code == 2
    assert f"'{first.id}' looks like a connection id" in named_like_id.stderr
    assert removed.exit_code == 0
    assert removed.output.startswith(f"removed {first.id} (first)")
    assert cli.store.list_connections() == []


def test_an_argument_that_is_not_utf8_is_a_usage_error(cli: Cli) -> None:
    # What a shell hands Python for the bytes b"ac\xffme": a lone surrogate.
    result = cli(*ADD[:2], "--name", "ac\udcffme", *ADD[4:])

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == (
        "Error: argument 'ac\\udcffme' (after --name) is not valid text: it holds bytes that "
        "are not UTF-8"
    )
    assert cli.store.list_connections() == []


def test_add_refuses_a_crm_url_without_a_host(cli: Cli) -> None:
    result = cli(*ADD[:-1], "http://:80/hooks/acme")

    assert result.exit_code == 2
    assert cli.store.list_connections() == []


def test_add_names_a_missing_option(cli: Cli) -> None:
    result = cli("connections", "add", "--name", "acme")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == (
        "Error: Missing option '--location-id'. A Private Integration token belongs to one "
        "location (or use --auth oauth)."
    )


def test_add_names_a_missing_token(cli: Cli) -> None:
    result = cli("connections", "add", "--name", "acme", "--location-id", "loc_demo")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == (
        "Error: Missing option '--ghl-token'. Give the location's Private Integration token "
        "(or use --auth oauth)."
    )
    assert cli.store.list_connections() == []


# --- list and show --------------------------------------------------------------------------


def test_list_without_connections_says_none(cli: Cli) -> None:
    result = cli("connections", "list")

    assert result.exit_code == 0
    assert result.output == "(none)\n"


def test_list_is_a_table_by_name(cli: Cli) -> None:
    zeta = cli.connection("zeta")
    acme = cli.connection("acme", stats_interval_seconds=3600)
    cli.store.park_connection(zeta.id, "token refused")

    result = cli("connections", "list")

    assert result.exit_code == 0
    header, *rows = lines(result.output)
    assert columns(header) == [
        "ID", "NAME", "LOCATION", "GHL AUTH", "CRM", "INBOUND AUTH", "STATUS", "STATS EVERY (s)"
    ]  # fmt: skip
    assert [columns(row) for row in rows] == [
        [acme.id, "acme", "loc_demo", "pit", "webhook", "signature", "active", "3600"],
        [zeta.id, "zeta", "loc_demo", "pit", "webhook", "signature", "parked", "86400"],
    ]


def test_list_json_leaves_the_secrets_out(cli: Cli) -> None:
    connection = cli.connection("acme")

    result = cli("connections", "list", "--json")

    assert result.exit_code == 0
    [listed] = json.loads(result.output)
    assert set(listed) == PUBLIC_FIELDS
    assert listed["id"] == connection.id
    assert listed["webhook_url"] == f"{PUBLIC_URL}/webhooks/crm/{connection.id}"
    assert listed["crm_settings"] == {"secret": "***"}
    for secret in (connection.ghl_token, connection.crm_secret, *connection.webhook_secrets):
        assert secret not in result.output


@pytest.mark.parametrize("by", ["name", "id"])
def test_show_finds_a_connection_by_name_or_id(cli: Cli, by: str) -> None:
    connection = cli.connection("acme")

    result = cli("connections", "show", connection.name if by == "name" else connection.id)

    assert result.exit_code == 0
    assert f"{'id:':<24}{connection.id}" in lines(result.output)
    assert f"{'status:':<24}active" in lines(result.output)
    assert f"{'webhook_url:':<24}{PUBLIC_URL}/webhooks/crm/{connection.id}" in lines(result.output)
    assert f"{'status_reason:':<24}-" in lines(result.output)
    assert f"{'created_at:':<24}{connection.created_at.isoformat()}" in lines(result.output)
    assert "None" not in result.output
    assert connection.ghl_token not in result.output
    assert connection.crm_secret not in result.output


def test_show_plain_and_json_carry_the_same_fields_and_values(cli: Cli) -> None:
    connection = cli.connection("acme")

    plain = cli("connections", "show", "acme", "--secrets")
    machine = cli("connections", "show", "acme", "--secrets", "--json")

    shown = json.loads(machine.output)
    assert shown["created_at"] == connection.created_at.isoformat()
    assert "T" in shown["created_at"]
    assert shown["stats_interval_seconds"] == 86400
    assert shown["status_reason"] is None
    assert shown["crm_settings"] == {"secret": connection.crm_secret}
    assert shown["mapping"] is False
    assert lines(plain.output) == [
        f"{key + ':':<24}{plain_words(value)}" for key, value in shown.items()
    ]


def test_show_secrets_prints_them_on_request(cli: Cli) -> None:
    connection = cli.connection("acme")

    result = cli("connections", "show", "acme", "--secrets", "--json")

    assert result.exit_code == 0
    shown = json.loads(result.output)
    assert set(shown) == PUBLIC_FIELDS | {"ghl_token", "crm_secret", "webhook_secrets"}
    assert shown["crm_settings"] == {"secret": connection.crm_secret}
    assert shown["ghl_token"] == connection.ghl_token
    assert shown["crm_secret"] == connection.crm_secret
    assert shown["webhook_secrets"] == list(connection.webhook_secrets)


def test_show_of_an_unknown_connection_lists_those_that_exist(cli: Cli) -> None:
    cli.connection("acme")
    cli.connection("zeta")

    result = cli("connections", "show", "nope")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == (
        "Error: Invalid value for CONNECTION: no connection 'nope' (connections: acme, zeta)"
    )


# --- check ----------------------------------------------------------------------------------


GHL_OK_LINES = [
    "GHL  ok accounts: location loc_demo, 6 social accounts (5 with a profile id)",
    "GHL  ok tags: 250 tags",
]


def test_check_makes_every_ghl_call_of_the_flows_and_reaches_the_crm(cli: Cli) -> None:
    connection = cli.connection("acme")
    origin = cli.sandboxes.crm_url

    result = cli("connections", "check", connection.name)

    assert result.exit_code == 0, result.output
    stdout = lines(result.stdout)
    assert stdout[:2] == GHL_OK_LINES
    assert re.fullmatch(r"GHL  ok tag details: tag \w+ \(.+\)", stdout[2])
    assert stdout[3] == "GHL  ok statistics: 5 profile(s), GHL's default period (the last 7 days)"
    assert re.fullmatch(
        r"GHL  ok statistics \(v3, dates\): 5 profile\(s\), \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d",
        stdout[4],
    )
    assert stdout[5] == (
        "GHL  skipped post: no GHL post of this connection is known yet (a post.published "
        "event with ghl_post_id names one; or give one: --post-id)"
    )
    assert re.fullmatch(
        rf"CRM  ok: {re.escape(origin)} is reachable \(GET answered HTTP 405 in \d+ ms\)",
        stdout[6],
    )
    assert result.stderr == ""


def test_check_fetches_the_post_given_or_the_newest_one_an_event_named(cli: Cli) -> None:
    connection = cli.connection("acme")
    cli.store.save_post_tags(
        connection_id=connection.id,
        crm_post_id="crm-1",
        location_id="loc_demo",
        tags=[],
        post_tags=[],
        ghl_post_id="post_demo_2",
    )

    named = cli("connections", "check", "acme")
    given = cli("connections", "check", "acme", "--post-id", "post_demo_1")
    unknown = cli("connections", "check", "acme", "--post-id", "post_nope")

    assert named.exit_code == 0, named.output
    assert re.search(r"^GHL  ok post: post_demo_2 \(\d+ tag ids\)$", named.stdout, re.M)
    assert given.exit_code == 0, given.output
    assert re.search(r"^GHL  ok post: post_demo_1 \(\d+ tag ids\)$", given.stdout, re.M)
    assert unknown.exit_code == 1
    assert lines(unknown.stderr)[0].startswith("GHL  FAILED post: ghl: ")


def test_check_stops_calling_ghl_after_a_refused_token_and_reports_each_failure(
    cli: Cli,
) -> None:
    port = free_port()
    cli.connection("acme", ghl_token="pit-revoked", crm_url=f"http://127.0.0.1:{port}/hooks/a")

    result = cli("connections", "check", "acme")

    assert result.exit_code == 1
    ghl_line, crm_line = lines(result.stderr)
    assert ghl_line.startswith("GHL  FAILED accounts: ghl: Invalid JWT (HTTP 401) [traceId ")
    assert crm_line.startswith(f"CRM  FAILED: crm: http://127.0.0.1:{port} is unreachable: ")
    assert lines(result.stdout) == [
        "GHL  skipped tags, tag details, statistics, statistics (v3, dates), post: the token "
        "was refused"
    ]
    assert "pit-revoked" not in result.output


def test_check_names_a_connector_that_cannot_be_built(cli: Cli) -> None:
    cli.store.create_connection(
        name="hostless", location_id="loc_demo", ghl_token="pit-sandbox-demo",
        crm_url="http://:80/hooks/hostless",
    )  # fmt: skip

    result = cli("connections", "check", "hostless")

    assert result.exit_code == 1
    assert lines(result.stdout)[:2] == GHL_OK_LINES
    [crm_line] = lines(result.stderr)
    assert crm_line.startswith("CRM  FAILED: CRM URL")


# --- remove ---------------------------------------------------------------------------------


def test_remove_yes_deletes_without_asking(cli: Cli) -> None:
    connection = cli.connection("acme")
    cli.store.record_event(connection_id=connection.id, type="statistics.requested", payload={})

    result = cli("connections", "remove", "acme", "--yes")

    assert result.exit_code == 0
    assert result.output == (
        f"removed {connection.id} (acme); its schedule stops within a minute\n"
    )
    assert cli.store.list_connections() == []
    assert cli.store.list_events() == []


def test_remove_works_when_the_secrets_can_no_longer_be_read(cli: Cli, cli_database: str) -> None:
    # Written under another SECRET_KEY, as after a lost key: nothing of it decrypts.
    other = Store(cli_database, "a-key-that-is-gone")
    try:
        lost = other.create_connection(
            name="lost", location_id="loc", ghl_token="t", crm_url="https://crm.example/h"
        )
    finally:
        other.dispose()
    assert cli("connections", "show", "lost").exit_code == 1

    result = cli("connections", "remove", "lost", "--yes")

    assert result.exit_code == 0, result.output
    assert result.output == f"removed {lost.id} (lost); its schedule stops within a minute\n"
    assert cli.store.find_connection_name("lost") is None


def test_remove_asks_first_and_a_no_keeps_the_connection(cli: Cli) -> None:
    connection = cli.connection("acme")

    result = cli("connections", "remove", "acme", input="n\n")

    assert result.exit_code == 1
    assert result.output.startswith(
        f"Delete acme ({connection.id}) with its event log and records? [y/N]: n\n"
    )
    assert "Aborted!" in result.output
    assert cli.store.list_connections() == [connection]


def test_remove_asks_first_and_a_yes_deletes(cli: Cli) -> None:
    cli.connection("acme")

    result = cli("connections", "remove", "acme", input="y\n")

    assert result.exit_code == 0
    assert cli.store.list_connections() == []


def test_update_changes_only_what_is_given(cli: Cli) -> None:
    before = cli.connection()

    result = cli(
        "connections", "update", "acme", "--ghl-token", "pit-new", "--stats-interval", "3600"
    )

    assert result.exit_code == 0, result.output
    assert lines(result.output)[0] == (
        f"updated {before.id} (acme): ghl_token, stats_interval_seconds"
    )
    assert f"{'changed:':<24}ghl_token, stats_interval_seconds" in lines(result.output)
    assert f"{'stats_interval_seconds:':<24}3600" in lines(result.output)
    after = cli.store.get_connection(before.id)
    assert after is not None
    assert (after.ghl_token, after.stats_interval_seconds) == ("pit-new", 3600)
    assert (after.crm_url, after.crm_secret, after.webhook_secrets) == (
        before.crm_url,
        before.crm_secret,
        before.webhook_secrets,
    )


def test_update_of_a_parked_connection_says_how_to_activate_it(cli: Cli) -> None:
    before = cli.connection()
    cli.store.park_connection(before.id, "credentials refused")

    result = cli("connections", "update", "acme", "--ghl-token", "pit-new")

    assert result.exit_code == 0, result.output
    assert lines(result.output)[1] == (
        "it is still parked; un-park it with: socialbridge connections activate acme"
    )


def test_update_without_a_change_is_a_usage_error(cli: Cli) -> None:
    cli.connection()

    result = cli("connections", "update", "acme")

    assert result.exit_code == 2
    assert "give at least one of --name, --ghl-token, --crm-url" in result.stderr


def test_update_refuses_a_blank_token(cli: Cli) -> None:
    before = cli.connection()

    result = cli("connections", "update", "acme", "--ghl-token", "  ")

    assert result.exit_code == 2
    assert "Invalid value for '--ghl-token': must not be empty" in result.stderr
    after = cli.store.get_connection(before.id)
    assert after is not None
    assert after.ghl_token == before.ghl_token


def test_update_refuses_a_malformed_crm_secret(cli: Cli) -> None:
    cli.connection()

    result = cli("connections", "update", "acme", "--crm-secret", "not-a-secret")

    assert result.exit_code == 2
    assert "expected a Standard Webhooks secret starting with whsec_" in result.stderr


def test_rotate_secret_adds_one_and_retire_keeps_only_it(cli: Cli) -> None:
    before = cli.connection()

    added = cli("connections", "rotate-secret", "acme", "--json")
    rotated = cli.store.get_connection(before.id)
    retired = cli("connections", "rotate-secret", "acme", "--retire")
    after = cli.store.get_connection(before.id)

    assert added.exit_code == 0, added.output
    new_secret = json.loads(added.output)["webhook_secret"]
    assert rotated is not None
    assert rotated.webhook_secrets == (new_secret, before.webhook_secrets[0])
    assert retired.exit_code == 0, retired.output
    assert retired.output == (
        f"{before.id} (acme): only the newest webhook secret verifies now (1 active): "
        f"{new_secret}\n"
    )
    assert after is not None
    assert after.webhook_secrets == (new_secret,)


def test_update_json_is_the_connection_with_what_changed(cli: Cli) -> None:
    before = cli.connection()

    result = cli("connections", "update", "acme", "--stats-interval", "2678400", "--json")

    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert set(shown) == PUBLIC_FIELDS | {"changed"}
    assert shown["changed"] == ["stats_interval_seconds"]
    assert shown["stats_interval_seconds"] == 2678400
    assert shown["id"] == before.id


@pytest.mark.parametrize(
    ("args", "option", "message"),
    [
        (("--stats-interval", "99999999999999999999"), "--stats-interval",
         "99999999999999999999 is not in the range 300<=x<=2678400."),
        (("--stats-interval", "9223372036854775807"), "--stats-interval",
         "9223372036854775807 is not in the range 300<=x<=2678400."),
        (("--stats-interval", "0"), "--stats-interval", "0 is not in the range 300<=x<=2678400."),
        (("--name", "con_1234"), "--name",
         "'con_1234' looks like a connection id (con_…); choose a name that does not start "
         "with it"),
        (("--name", " Con_x "), "--name",
         "'Con_x' looks like a connection id (con_…); choose a name that does not start with it"),
        (("--crm-url", "http://[::1"), "--crm-url",
         "expected an http(s) URL, got 'http://[::1': Invalid IPv6 URL"),
    ],
)  # fmt: skip
def test_update_refuses_values_out_of_bounds_and_changes_nothing(
    cli: Cli, args: tuple[str, str], option: str, message: str
) -> None:
    before = cli.connection()

    result = cli("connections", "update", "acme", "--ghl-token", "pit-new", *args)

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == f"Error: Invalid value for '{option}': {message}"
    assert cli.store.get_connection(before.id) == before


def test_rotate_secret_plain_and_json_carry_the_same_fields(cli: Cli) -> None:
    before = cli.connection()

    added_json = cli("connections", "rotate-secret", "acme", "--json")
    added_plain = cli("connections", "rotate-secret", "acme")
    newest = cli.store.get_connection(before.id)
    retired_json = cli("connections", "rotate-secret", "acme", "--retire", "--json")
    retired_plain = cli("connections", "rotate-secret", "acme", "--retire")

    assert newest is not None
    added = json.loads(added_json.output)
    assert added == {
        "id": before.id,
        "name": "acme",
        "webhook_secret": added["webhook_secret"],
        "active_secrets": 2,
    }
    assert lines(added_plain.output)[0] == (
        f"new webhook secret of {before.id} (acme): {newest.webhook_secrets[0]} (3 active)"
    )
    assert json.loads(retired_json.output) == {
        "id": before.id,
        "name": "acme",
        "webhook_secret": newest.webhook_secrets[0],
        "active_secrets": 1,
    }
    assert retired_plain.output == (
        f"{before.id} (acme): only the newest webhook secret verifies now (1 active): "
        f"{newest.webhook_secrets[0]}\n"
    )
