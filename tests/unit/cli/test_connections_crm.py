"""`socialbridge connections` for connector protocol v2: the CRM kind and its settings, the
inbound mode (and its token), the mapping file, and `check` of a SmartOffice connection.

The SmartOffice checks go over HTTP to the sandbox XML Engine (`smartoffice_url`); every
other test stops before the connector is built, so its URL is never called.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import Result

from crm.registry import KINDS
from mappings import MAX_TEXT_BYTES
from sandbox.smartoffice.state import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_OFFICE,
    DEMO_PASSWORD,
    DEMO_SITENAME,
    DEMO_USER,
)
from store import ConnectionRecord
from tests.unit.cli.conftest import PUBLIC_URL, Cli, lines

SO_URL = "https://so.example/xml"

BASE = (
    "connections",
    "add",
    "--name",
    "acme-so",
    "--location-id",
    "loc_demo",
    "--ghl-token",
    "pit-sandbox-demo",
)

DIRECT = {"office": DEMO_OFFICE, "user": DEMO_USER, "password": DEMO_PASSWORD}
GATEWAY = {
    "auth": "gateway",
    "sitename": DEMO_SITENAME,
    "office": DEMO_OFFICE,
    "user": DEMO_USER,
    "api_key": DEMO_API_KEY,
    "api_secret": DEMO_API_SECRET,
}

# Valid for SmartOffice (its outbound fields include Note); the webhook kind takes no
# outbound part.
MAPPING = """\
version: 1
inbound:
  type: {path: $.action, map: {post_published: post.published}}
  id: $.request_id
  fields:
    post_id: $.post.id
    record.contact_id: $.contact.id
outbound:
  post.tags_synced:
    Note: {template: "Post {{ post_id }}"}
"""

# Two problems, on lines 5 and 8.
INVALID_MAPPING = """\
version: 1
inbound:
  type: $.event
  fields:
    post_idd: $.post.id
outbound:
  post.tags_synced:
    Note: {template: "{{ x"}
"""


def settings_args(settings: dict[str, str]) -> list[str]:
    return [arg for name, value in settings.items() for arg in ("--crm-setting", f"{name}={value}")]


def add_smartoffice(
    cli: Cli, settings: dict[str, str] | None = None, *extra: str, url: str = SO_URL
) -> Result:
    """`connections add --crm smartoffice` with ``settings`` (the direct seed login)."""
    chosen = DIRECT if settings is None else settings
    return cli(*BASE, "--crm", "smartoffice", "--crm-url", url, *settings_args(chosen), *extra)


def only_connection(cli: Cli) -> ConnectionRecord:
    [connection] = cli.store.list_connections()
    return connection


def write(tmp_path: Path, text: str | bytes, name: str = "mapping.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- add: SmartOffice settings --------------------------------------------------------------


def test_add_smartoffice_direct_prints_the_token_and_the_settings_masked(cli: Cli) -> None:
    result = add_smartoffice(cli)

    assert result.exit_code == 0, result.output
    connection = only_connection(cli)
    assert connection.crm_kind == "smartoffice"
    assert connection.crm_url == SO_URL
    assert connection.crm_settings == {"auth": "direct", **DIRECT}
    assert connection.inbound_auth == "token"
    assert connection.inbound_token is not None
    assert lines(result.output) == [
        f"created connection {connection.id} (acme-so): SmartOffice (XML Engine)",
        f"  webhook URL:     {PUBLIC_URL}/webhooks/crm/{connection.id}",
        f"  inbound token:   {connection.inbound_token}   "
        "(the CRM sends it as 'Authorization: Bearer <token>')",
        f"  CRM settings:    auth=direct, office={DEMO_OFFICE}, password=***, user={DEMO_USER}",
        "  statistics sync: every 86400 s (beat picks it up within a minute)",
        "check both sides with: socialbridge connections check acme-so",
    ]
    assert DEMO_PASSWORD not in result.output


def test_add_smartoffice_gateway_keeps_its_five_settings_and_masks_both_keys(cli: Cli) -> None:
    result = add_smartoffice(cli, GATEWAY, "--json")

    assert result.exit_code == 0, result.output
    connection = only_connection(cli)
    assert connection.crm_settings == GATEWAY
    shown = json.loads(result.output)
    assert shown["crm_settings"] == {
        **GATEWAY,
        "api_key": "***",
        "api_secret": "***",
    }
    assert DEMO_API_KEY not in result.output
    assert DEMO_API_SECRET not in result.output


def test_add_smartoffice_json_gives_the_inbound_token_and_no_webhook_secret(cli: Cli) -> None:
    result = add_smartoffice(cli, None, "--json")

    assert result.exit_code == 0, result.output
    connection = only_connection(cli)
    assert json.loads(result.output) == {
        "id": connection.id,
        "name": "acme-so",
        "auth": "pit",
        "location_id": "loc_demo",
        "status": "active",
        "crm_kind": "smartoffice",
        "inbound_auth": "token",
        "webhook_url": f"{PUBLIC_URL}/webhooks/crm/{connection.id}",
        "inbound_token": connection.inbound_token,
        "crm_settings": {"auth": "direct", **DIRECT, "password": "***"},
        "mapping": False,
        "stats_interval_seconds": 86400,
    }


@pytest.mark.parametrize(
    ("settings", "errors"),
    [
        pytest.param(
            {"office": DEMO_OFFICE, "user": DEMO_USER},
            ["--crm-setting password: Required with auth=direct."],
            id="direct-without-password",
        ),
        pytest.param(
            {},
            [
                "--crm-setting office: Required with auth=direct.",
                "--crm-setting password: Required with auth=direct.",
                "--crm-setting user: Required with auth=direct.",
            ],
            id="direct-without-anything",
        ),
        pytest.param(
            {key: value for key, value in GATEWAY.items() if key != "api_secret"},
            ["--crm-setting api_secret: Required with auth=gateway."],
            id="gateway-without-api-secret",
        ),
        pytest.param(
            {**DIRECT, "api_key": "k"},
            [
                "--crm-setting api_key: Only used with auth=gateway; remove it (an empty value "
                "removes a setting)."
            ],
            id="direct-with-a-gateway-key",
        ),
        pytest.param(
            {**GATEWAY, "password": "p"},
            [
                "--crm-setting password: Only used with auth=direct; remove it (an empty value "
                "removes a setting)."
            ],
            id="gateway-with-a-password",
        ),
        pytest.param(
            {**DIRECT, "auth": "oauth"},
            ["--crm-setting auth: Must be one of: direct, gateway."],
            id="unknown-mode",
        ),
        pytest.param(
            {**DIRECT, "colour": "blue"},
            ["--crm-setting colour: Unknown field."],
            id="unknown-setting",
        ),
        pytest.param(
            {**DIRECT, "stats_contact_id": "31"},
            [
                "--crm-setting stats_contact_id: Expected a SmartOffice contact id such as "
                "Contact.1.31."
            ],
            id="malformed-contact",
        ),
        pytest.param(
            {**GATEWAY, "api_secret": "s\u00e9cret"},
            [
                "--crm-setting api_secret: Sent as an HTTP header with auth=gateway: printable "
                "ASCII only, without leading or trailing spaces."
            ],
            id="gateway-header-not-ascii",
        ),
    ],
)
def test_add_names_each_refused_setting_on_its_own_line_and_stores_nothing(
    cli: Cli, settings: dict[str, str], errors: list[str]
) -> None:
    result = add_smartoffice(cli, settings)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert lines(result.stderr) == [f"Error: {error}" for error in errors]
    assert cli.store.list_connections() == []


def test_an_empty_setting_counts_as_not_given(cli: Cli) -> None:
    result = add_smartoffice(cli, {**DIRECT, "stats_contact_id": ""})

    assert result.exit_code == 0, result.output
    assert "stats_contact_id" not in only_connection(cli).crm_settings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--crm-url", SO_URL, "--crm-setting", "office"),
            "Invalid value for '--crm-setting': expected KEY=VALUE, got 'office'",
        ),
        (
            ("--crm-url", SO_URL, "--crm-setting", "=demo"),
            "Invalid value for '--crm-setting': expected KEY=VALUE, got '=demo'",
        ),
        (
            ("--crm-url", SO_URL, "--crm-setting", "user=a", "--crm-setting", "user=b"),
            "Invalid value for '--crm-setting': user is given twice",
        ),
        (
            ("--crm-setting", "office=demo"),
            "a smartoffice CRM needs --crm-url",
        ),
        (
            ("--crm-url", SO_URL, "--inbound-auth", "signature"),
            "Invalid value for '--inbound-auth': a smartoffice CRM cannot use signature; "
            "it takes: token",
        ),
        (
            ("--crm-url", SO_URL, "--crm-secret", "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"),
            "Invalid value for '--crm-secret': only a webhook CRM has a signing secret; a "
            "smartoffice CRM's credentials are given with --crm-setting",
        ),
    ],
)
def test_add_smartoffice_refuses_options_it_cannot_use(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    result = cli(*BASE, "--crm", "smartoffice", *args)

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == f"Error: {message}"
    assert cli.store.list_connections() == []


def test_a_refused_option_is_reported_before_the_settings_are_checked(cli: Cli) -> None:
    # The settings are incomplete too; the mode is what the user has to change first.
    result = add_smartoffice(cli, {"office": DEMO_OFFICE}, "--inbound-auth", "signature")

    assert result.exit_code == 2
    assert "a smartoffice CRM cannot use signature" in lines(result.stderr)[-1]
    assert "--crm-setting" not in result.stderr


def test_add_explicit_token_mode_for_smartoffice_is_its_default(cli: Cli) -> None:
    result = add_smartoffice(cli, None, "--inbound-auth", "token")

    assert result.exit_code == 0, result.output
    assert only_connection(cli).inbound_auth == "token"


# --- add: the webhook kind ------------------------------------------------------------------

WEBHOOK_ARGS = (*BASE, "--crm-url", "https://crm.example/hooks/acme")
SECRET = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"


def test_add_webhook_with_token_auth_gives_a_token_and_still_a_crm_secret(cli: Cli) -> None:
    result = cli(*WEBHOOK_ARGS, "--inbound-auth", "token", "--json")

    assert result.exit_code == 0, result.output
    connection = only_connection(cli)
    shown = json.loads(result.output)
    assert shown["inbound_auth"] == "token"
    assert shown["inbound_token"] == connection.inbound_token
    assert shown["inbound_token"].startswith("sbt_")
    assert "webhook_secret" not in shown
    # Write-backs are still signed: the token is only how the CRM's POSTs are authenticated.
    assert shown["crm_secret"] == connection.crm_secret


def test_add_webhook_takes_its_secret_as_a_setting_too(cli: Cli) -> None:
    result = cli(*WEBHOOK_ARGS, "--crm-setting", f"secret={SECRET}")

    assert result.exit_code == 0, result.output
    assert only_connection(cli).crm_secret == SECRET


def test_add_webhook_refuses_crm_secret_beside_the_secret_setting(cli: Cli) -> None:
    result = cli(*WEBHOOK_ARGS, "--crm-secret", SECRET, "--crm-setting", f"secret={SECRET}")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == (
        "Error: Invalid value for '--crm-secret': give it or --crm-setting secret=…, not both"
    )
    assert cli.store.list_connections() == []


def test_add_webhook_refuses_a_malformed_secret_setting_naming_it(cli: Cli) -> None:
    result = cli(*WEBHOOK_ARGS, "--crm-setting", "secret=hunter2")

    assert result.exit_code == 2
    assert lines(result.stderr) == [
        "Error: --crm-setting secret: a webhook secret starts with 'whsec_'"
    ]
    assert cli.store.list_connections() == []


# --- show -----------------------------------------------------------------------------------


def test_show_masks_the_secret_settings_and_leaves_the_token_out(cli: Cli) -> None:
    add_smartoffice(cli)
    connection = only_connection(cli)

    plain = cli("connections", "show", "acme-so")
    machine = cli("connections", "show", "acme-so", "--json")

    assert plain.exit_code == 0, plain.output
    assert f"{'crm_settings:':<24}auth=direct, office=demo, password=***, user=agent" in lines(
        plain.output
    )
    assert f"{'inbound_auth:':<24}token" in lines(plain.output)
    assert f"{'mapping:':<24}no" in lines(plain.output)
    shown = json.loads(machine.output)
    assert shown["crm_settings"] == {"auth": "direct", **DIRECT, "password": "***"}
    assert "inbound_token" not in shown
    for secret in (DEMO_PASSWORD, connection.inbound_token, connection.ghl_token):
        assert secret is not None
        assert secret not in plain.output
        assert secret not in machine.output


def test_show_secrets_reveals_the_settings_and_the_inbound_token(cli: Cli) -> None:
    add_smartoffice(cli)
    connection = only_connection(cli)

    plain = cli("connections", "show", "acme-so", "--secrets")
    machine = cli("connections", "show", "acme-so", "--secrets", "--json")

    shown = json.loads(machine.output)
    assert shown["crm_settings"] == {"auth": "direct", **DIRECT}
    assert shown["inbound_token"] == connection.inbound_token
    assert shown["inbound_tokens"] == [connection.inbound_token]
    assert shown["ghl_token"] == "pit-sandbox-demo"
    # A token connection has no signing secret the CRM could use, a SmartOffice one no CRM
    # secret: neither is shown.
    assert "webhook_secrets" not in shown
    assert "crm_secret" not in shown
    assert f"{'crm_settings:':<24}auth=direct, office=demo, password={DEMO_PASSWORD}, " \
        "user=agent" in lines(plain.output)  # fmt: skip
    assert f"{'inbound_token:':<24}{connection.inbound_token}" in lines(plain.output)


def test_show_quotes_a_setting_that_would_make_the_pairs_ambiguous(cli: Cli) -> None:
    add_smartoffice(cli, {**DIRECT, "user": "agent, west=1"})

    result = cli("connections", "show", "acme-so")

    assert result.exit_code == 0, result.output
    assert (
        f'{"crm_settings:":<24}auth=direct, office=demo, password=***, user="agent, west=1"'
    ) in lines(result.output)


# --- update ---------------------------------------------------------------------------------


def test_update_crm_setting_changes_only_that_setting(cli: Cli) -> None:
    add_smartoffice(cli, {**DIRECT, "stats_contact_id": "Contact.1.31"})
    before = only_connection(cli)

    result = cli("connections", "update", "acme-so", "--crm-setting", "password=new-password")

    assert result.exit_code == 0, result.output
    after = only_connection(cli)
    assert after.crm_settings == {**before.crm_settings, "password": "new-password"}
    assert (after.inbound_tokens, after.crm_url) == (before.inbound_tokens, before.crm_url)
    assert lines(result.output)[0] == f"updated {before.id} (acme-so): crm_settings.password"
    assert f"{'changed:':<24}crm_settings.password" in lines(result.output)
    assert "new-password" not in result.output


def test_update_revalidates_the_whole_set_and_changes_nothing_when_refused(cli: Cli) -> None:
    add_smartoffice(cli)
    before = only_connection(cli)

    # Switching to the gateway needs its keys, and the direct password must go.
    result = cli("connections", "update", "acme-so", "--crm-setting", "auth=gateway")

    assert result.exit_code == 2
    assert lines(result.stderr) == [
        "Error: --crm-setting api_key: Required with auth=gateway.",
        "Error: --crm-setting api_secret: Required with auth=gateway.",
        "Error: --crm-setting password: Only used with auth=direct; remove it (an empty value "
        "removes a setting).",
        "Error: --crm-setting sitename: Required with auth=gateway.",
    ]
    assert only_connection(cli) == before


def test_update_moves_a_connection_to_the_gateway_with_an_empty_password(cli: Cli) -> None:
    add_smartoffice(cli)
    switch = {**GATEWAY, "password": ""}

    result = cli("connections", "update", "acme-so", *settings_args(switch), "--json")

    assert result.exit_code == 0, result.output
    assert only_connection(cli).crm_settings == GATEWAY
    shown = json.loads(result.output)
    assert shown["changed"] == [f"crm_settings.{name}" for name in sorted(switch)]
    assert shown["crm_settings"] == {**GATEWAY, "api_key": "***", "api_secret": "***"}


def test_update_refuses_crm_secret_for_smartoffice(cli: Cli) -> None:
    add_smartoffice(cli)
    before = only_connection(cli)

    result = cli("connections", "update", "acme-so", "--crm-secret", SECRET)

    assert result.exit_code == 2
    assert "only a webhook CRM has a signing secret" in lines(result.stderr)[-1]
    assert only_connection(cli) == before


def test_update_webhook_secret_setting_changes_the_crm_secret(cli: Cli) -> None:
    cli(*WEBHOOK_ARGS)

    result = cli("connections", "update", "acme-so", "--crm-setting", f"secret={SECRET}")

    assert result.exit_code == 0, result.output
    assert only_connection(cli).crm_secret == SECRET
    assert lines(result.output)[0].endswith(": crm_settings.secret")


# --- mappings -------------------------------------------------------------------------------


def test_add_with_a_mapping_stores_its_text(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, MAPPING)

    result = add_smartoffice(cli, None, "--mapping", str(path))

    assert result.exit_code == 0, result.output
    assert only_connection(cli).mapping == MAPPING
    assert f"  mapping:         {path} (see: socialbridge mappings show acme-so)" in lines(
        result.output
    )


def test_update_mapping_and_no_mapping(cli: Cli, tmp_path: Path) -> None:
    add_smartoffice(cli)
    path = write(tmp_path, MAPPING)

    added = cli("connections", "update", "acme-so", "--mapping", str(path), "--json")
    with_mapping = only_connection(cli)
    removed = cli("connections", "update", "acme-so", "--no-mapping")
    without = only_connection(cli)

    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["changed"] == ["mapping"]
    assert json.loads(added.output)["mapping"] is True
    assert with_mapping.mapping == MAPPING
    assert removed.exit_code == 0, removed.output
    assert lines(removed.output)[0] == f"updated {without.id} (acme-so): mapping"
    assert f"{'mapping:':<24}no" in lines(removed.output)
    assert without.mapping is None


def test_update_refuses_mapping_and_no_mapping_together(cli: Cli, tmp_path: Path) -> None:
    add_smartoffice(cli)

    result = cli(
        "connections", "update", "acme-so", "--mapping", str(write(tmp_path, MAPPING)),
        "--no-mapping",
    )  # fmt: skip

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == "Error: give --mapping or --no-mapping, not both"
    assert only_connection(cli).mapping is None


def test_add_with_an_invalid_mapping_prints_every_problem_with_its_line(
    cli: Cli, tmp_path: Path
) -> None:
    path = write(tmp_path, INVALID_MAPPING)

    result = add_smartoffice(cli, None, "--mapping", str(path))

    assert result.exit_code == 1
    assert result.stdout == ""
    first, second = lines(result.stderr)
    assert first.startswith(
        f"Error: --mapping {path}: line 5: inbound.fields.post_idd: not a field of any event "
        "type (did you mean post_id?)"
    )
    assert second.startswith(
        f"Error: --mapping {path}: line 8: outbound.post.tags_synced.Note.template: "
        "template syntax: "
    )
    assert cli.store.list_connections() == []


def test_a_mapping_is_checked_against_the_kinds_outbound_fields(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, MAPPING)

    # Valid for SmartOffice (test above); the webhook connector's format is fixed.
    result = cli(*WEBHOOK_ARGS, "--mapping", str(path))

    assert result.exit_code == 1
    assert lines(result.stderr) == [
        f"Error: --mapping {path}: line 8: outbound: this CRM kind takes no outbound part"
    ]
    assert cli.store.list_connections() == []


def test_update_with_an_invalid_mapping_keeps_the_old_one(cli: Cli, tmp_path: Path) -> None:
    add_smartoffice(cli, None, "--mapping", str(write(tmp_path, MAPPING)))

    result = cli(
        "connections", "update", "acme-so",
        "--mapping", str(write(tmp_path, INVALID_MAPPING, "bad.yaml")),
    )  # fmt: skip

    assert result.exit_code == 1
    assert len(lines(result.stderr)) == 2
    assert only_connection(cli).mapping == MAPPING


def test_a_mapping_file_that_cannot_be_read_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"

    absent = add_smartoffice(cli, None, "--mapping", str(missing))
    folder = add_smartoffice(cli, None, "--mapping", str(tmp_path))

    assert absent.exit_code == 2
    assert lines(absent.stderr)[-1] == (
        f"Error: Invalid value for '--mapping': cannot read {missing}: No such file or directory"
    )
    assert folder.exit_code == 2
    assert lines(folder.stderr)[-1] == (
        f"Error: Invalid value for '--mapping': File '{tmp_path}' is a directory."
    )
    assert cli.store.list_connections() == []


def test_a_mapping_file_that_is_not_utf8_is_named(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, b"version: 1\n# caf\xe9\n")

    result = add_smartoffice(cli, None, "--mapping", str(path))

    assert result.exit_code == 1
    assert lines(result.stderr) == [f"Error: --mapping {path}: not UTF-8 text (byte 16)"]
    assert cli.store.list_connections() == []


def test_a_mapping_file_over_the_limit_is_refused_and_one_at_it_is_read(
    cli: Cli, tmp_path: Path
) -> None:
    # The valid mapping padded with a comment to exactly the limit, then one byte more.
    padding = MAX_TEXT_BYTES - len(MAPPING.encode()) - len("#\n")
    at_limit = MAPPING + "#" + "x" * padding + "\n"
    assert len(at_limit.encode()) == MAX_TEXT_BYTES
    over = write(tmp_path, at_limit + "\n", "over.yaml")

    refused = add_smartoffice(cli, None, "--mapping", str(over))
    accepted = add_smartoffice(cli, None, "--mapping", str(write(tmp_path, at_limit)))

    assert refused.exit_code == 1
    assert lines(refused.stderr) == [
        f"Error: --mapping {over}: larger than {MAX_TEXT_BYTES} bytes; a mapping is at most 64 KiB"
    ]
    assert accepted.exit_code == 0, accepted.output
    assert only_connection(cli).mapping == at_limit


# --- rotate-secret of a token connection ----------------------------------------------------


def test_rotate_secret_of_a_token_connection_rotates_its_token_with_overlap(cli: Cli) -> None:
    add_smartoffice(cli)
    before = only_connection(cli)

    added = cli("connections", "rotate-secret", "acme-so", "--json")
    overlapping = only_connection(cli)
    added_plain = cli("connections", "rotate-secret", "acme-so")
    newest = only_connection(cli)
    retired = cli("connections", "rotate-secret", "acme-so", "--retire", "--json")
    after = only_connection(cli)

    assert added.exit_code == 0, added.output
    new_token = json.loads(added.output)["inbound_token"]
    assert json.loads(added.output) == {
        "id": before.id,
        "name": "acme-so",
        "inbound_token": new_token,
        "active_tokens": 2,
    }
    # Both are accepted until --retire: the CRM side can change at any moment.
    assert overlapping.inbound_tokens == (new_token, before.inbound_token)
    assert lines(added_plain.output) == [
        f"new inbound token of {before.id} (acme-so): {newest.inbound_token} (3 active)",
        "give it to the CRM; the older ones keep working until: "
        "socialbridge connections rotate-secret acme-so --retire",
    ]
    assert json.loads(retired.output) == {
        "id": before.id,
        "name": "acme-so",
        "inbound_token": newest.inbound_token,
        "active_tokens": 1,
    }
    assert after.inbound_tokens == (newest.inbound_token,)
    # The (unused) webhook secrets of a token connection are left alone.
    assert after.webhook_secrets == before.webhook_secrets


def test_rotate_secret_retire_of_a_token_connection_in_words(cli: Cli) -> None:
    add_smartoffice(cli)
    cli("connections", "rotate-secret", "acme-so")
    newest = only_connection(cli).inbound_token

    result = cli("connections", "rotate-secret", "acme-so", "--retire")

    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{only_connection(cli).id} (acme-so): only the newest inbound token is accepted now "
        f"(1 active): {newest}\n"
    )


# --- check against the sandbox SmartOffice --------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "login"),
    [
        (DIRECT, f"direct login, office {DEMO_OFFICE}, user {DEMO_USER}"),
        (GATEWAY, f"API gateway, site {DEMO_SITENAME}, office {DEMO_OFFICE}, user {DEMO_USER}"),
    ],
    ids=["direct", "gateway"],
)
def test_check_of_a_smartoffice_connection_asks_the_xml_engine(
    cli: Cli, smartoffice_url: str, settings: dict[str, str], login: str
) -> None:
    add_smartoffice(cli, settings, url=smartoffice_url)
    origin = smartoffice_url.removesuffix("/xml")

    result = cli("connections", "check", "acme-so")

    assert result.exit_code == 0, result.output
    *ghl_lines, crm_line = lines(result.stdout)
    assert ghl_lines[0] == (
        "GHL  ok accounts: location loc_demo, 6 social accounts (5 with a profile id)"
    )
    assert all(line.startswith(("GHL  ok ", "GHL  skipped post: ")) for line in ghl_lines)
    assert re.fullmatch(
        rf"CRM  ok: SmartOffice at {re.escape(origin)} answered in \d+ ms: "
        rf"server time \S.* \({re.escape(login)}\)",
        crm_line,
    )
    assert result.stderr == ""


def test_check_with_a_wrong_password_fails_naming_the_login_error(
    cli: Cli, smartoffice_url: str
) -> None:
    add_smartoffice(cli, {**DIRECT, "password": "wrong-password"}, url=smartoffice_url)

    result = cli("connections", "check", "acme-so")

    assert result.exit_code == 1
    assert lines(result.stdout)[0] == (
        "GHL  ok accounts: location loc_demo, 6 social accounts (5 with a profile id)"
    )
    [crm_line] = lines(result.stderr)
    assert crm_line.startswith("CRM  FAILED: crm: SmartOffice error 2002: Login failed.")
    assert "check the connection's office, user and password settings" in crm_line
    assert "wrong-password" not in result.output


# --- docs/connectors.md stays true ----------------------------------------------------------

DOC = (Path(__file__).parents[3] / "docs" / "connectors.md").read_text(encoding="utf-8")
DOC_URL = "https://bridge.example.com"


def documented_output(first_words: str) -> list[str]:
    """The output block of the doc that starts with ``first_words``."""
    (block,) = re.findall(rf"```\n({re.escape(first_words)}[^`]*)```", DOC)
    return str(block).splitlines()


def as_documented(output: str, connection: ConnectionRecord, documented: list[str]) -> list[str]:
    """``output`` with this run's id, URL and secrets written as the doc writes them."""
    doc_id = re.search(r"con_[0-9a-f]{16}", documented[0])
    assert doc_id is not None
    text = output.replace(connection.id, doc_id.group()).replace(PUBLIC_URL, DOC_URL)
    text = re.sub(r"whsec_\S+", "whsec_…", text)
    return lines(re.sub(r"sbt_\S+", "sbt_…", text))


def test_every_kind_is_in_the_docs_table_with_its_title() -> None:
    rows = [line for line in DOC.splitlines() if line.startswith("| `")]
    for kind in KINDS.values():
        assert any(
            row.startswith(f"| `{kind.kind}`") and f"| {kind.title} |" in row for row in rows
        ), kind.kind


def test_the_docs_webhook_add_prints_what_the_doc_shows(cli: Cli) -> None:
    documented = documented_output("created connection con_5f0c")

    result = cli(
        *BASE[:3], "acme", *BASE[4:], "--crm-url", "https://crm.example.com/hooks/social"
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert as_documented(result.output, only_connection(cli), documented) == documented


def test_the_docs_smartoffice_add_prints_what_the_doc_shows(cli: Cli, tmp_path: Path) -> None:
    documented = documented_output("created connection con_8d2e")
    # The cli fixture runs in tmp_path, so the doc's relative file name works as it is.
    write(tmp_path, MAPPING, "smartoffice.yaml")

    result = cli(
        *BASE[:3], "acme-smartoffice", *BASE[4:], "--crm", "smartoffice", "--crm-url", SO_URL,
        "--crm-setting", "office=demo", "--crm-setting", "user=agent",
        "--crm-setting", "password=pw", "--mapping", "smartoffice.yaml",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert as_documented(result.output, only_connection(cli), documented) == documented


IXACT = {
    "smtp_host": "127.0.0.1",
    "smtp_port": "2525",
    "smtp_security": "none",
    "sender": "agent@example.com",
}


def test_a_crm_without_a_url_refuses_crm_url_on_add_and_update(cli: Cli) -> None:
    refused = cli(
        *BASE, "--crm", "ixact", "--crm-url", "https://crm.example/x", *settings_args(IXACT)
    )
    assert refused.exit_code == 2
    assert "ixact connections have no URL" in lines(refused.stderr)[-1]
    assert cli.store.list_connections() == []

    added = cli(*BASE, "--crm", "ixact", *settings_args(IXACT))
    assert added.exit_code == 0, added.stderr
    changed = cli("connections", "update", "acme-so", "--crm-url", "https://crm.example/x")
    assert changed.exit_code == 2
    assert "ixact connections have no URL" in lines(changed.stderr)[-1]
    assert only_connection(cli).crm_url == ""
