"""`socialbridge users token create|list|revoke` as an operator runs it."""

from __future__ import annotations

import json

from store import UserRole
from store.api_tokens import TOKEN_PREFIX
from tests.unit.cli.conftest import Cli, columns, lines

PASSWORD = "correct horse battery"


def test_create_prints_the_token_alone_on_stdout_once(cli: Cli) -> None:
    user = cli.store.add_user("ann@example.com", PASSWORD, UserRole.ADMIN)

    result = cli("users", "token", "create", "Ann@Example.com", "--name", "nightly export")

    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith(TOKEN_PREFIX)
    assert result.stdout == token + "\n"
    (record,) = cli.store.list_api_tokens()
    assert (record.user_id, record.name) == (user.id, "nightly export")
    assert f"API token {record.id} of ann@example.com (acts as admin)" in result.stderr
    assert "shown only now" in result.stderr
    found = cli.store.use_api_token(token)
    assert found is not None
    assert found[1].id == user.id


def test_create_for_nobody_or_with_a_long_name_fails(cli: Cli) -> None:
    cli.store.add_user("ann@example.com", PASSWORD)

    nobody = cli("users", "token", "create", "zed@example.com")
    long_name = cli("users", "token", "create", "ann@example.com", "--name", "x" * 101)

    assert nobody.exit_code == 1
    assert "no user 'zed@example.com'" in nobody.output
    assert long_name.exit_code == 1
    assert "name: at most 100 characters" in long_name.output
    assert cli.store.list_api_tokens() == []


def test_list_shows_names_and_uses_never_the_token(cli: Cli) -> None:
    ann = cli.store.add_user("ann@example.com", PASSWORD)
    zoe = cli.store.add_user("zoe@example.com", PASSWORD)
    anns, ann_token = cli.store.create_api_token(ann.id, "deploys")
    zoes, zoe_token = cli.store.create_api_token(zoe.id)
    cli.store.use_api_token(ann_token)

    table = cli("users", "token", "list")
    one = cli("users", "token", "list", "zoe@example.com", "--json")
    every = cli("users", "token", "list", "--json")

    assert table.exit_code == 0, table.output
    header, first, second = lines(table.output)
    assert columns(header) == ["ID", "EMAIL", "NAME", "CREATED (UTC)", "LAST USED (UTC)"]
    assert columns(first)[:3] == [anns.id, "ann@example.com", "deploys"]
    assert columns(first)[4] != "-"
    assert columns(second)[:3] == [zoes.id, "zoe@example.com", "-"]
    assert columns(second)[4] == "-"
    (listed,) = json.loads(one.output)
    assert listed == {
        "id": zoes.id,
        "email": "zoe@example.com",
        "name": "",
        "created_at": zoes.created_at.isoformat(),
        "last_used_at": None,
    }
    assert [item["id"] for item in json.loads(every.output)] == [anns.id, zoes.id]
    for output in (table.output, one.output, every.output):
        assert ann_token not in output
        assert zoe_token not in output


def test_list_of_an_unknown_email_fails(cli: Cli) -> None:
    result = cli("users", "token", "list", "zed@example.com")

    assert result.exit_code == 1
    assert "no user 'zed@example.com'" in result.output


def test_revoke_asks_first_unless_yes(cli: Cli) -> None:
    ann = cli.store.add_user("ann@example.com", PASSWORD)
    record, token = cli.store.create_api_token(ann.id, "deploys")

    kept = cli("users", "token", "revoke", record.id, input="n\n")
    assert kept.exit_code == 1
    assert f"Revoke API token {record.id} (deploys) of ann@example.com?" in kept.output
    assert cli.store.use_api_token(token) is not None

    revoked = cli("users", "token", "revoke", record.id, "--yes")
    assert revoked.exit_code == 0, revoked.output
    assert revoked.output == f"revoked API token {record.id} of ann@example.com\n"
    assert cli.store.use_api_token(token) is None

    again = cli("users", "token", "revoke", record.id, "--yes")
    assert again.exit_code == 1
    assert f"no API token '{record.id}'" in again.output


def test_removing_the_user_ends_its_tokens(cli: Cli) -> None:
    cli.store.add_user("root@example.com", PASSWORD, UserRole.ADMIN)
    bob = cli.store.add_user("bob@example.com", PASSWORD)
    _, token = cli.store.create_api_token(bob.id)

    assert cli("users", "remove", "bob@example.com", "--yes").exit_code == 0

    assert cli.store.use_api_token(token) is None
    assert cli("users", "token", "list", "--json").output.strip() == "[]"


def test_a_password_reset_says_the_tokens_still_work(cli: Cli) -> None:
    bob = cli.store.add_user("bob@example.com", PASSWORD)
    _, token = cli.store.create_api_token(bob.id)

    result = cli(
        "users", "reset-password", "bob@example.com", "--password-stdin",
        input="a brand new password\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "their 1 API token(s) still work" in result.output
    assert cli.store.use_api_token(token) is not None
