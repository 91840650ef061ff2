"""`socialbridge users …` as an operator runs it."""

from __future__ import annotations

import json

import pytest

from cli import users
from store import UserRole
from tests.unit.cli.conftest import PUBLIC_URL, Cli, columns, lines

PASSWORD = "correct horse battery"


def test_add_reads_one_line_from_stdin(cli: Cli) -> None:
    result = cli("users", "add", "Ann@Example.com", "--role", "admin", "--password-stdin",
                 input=PASSWORD + "\n")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.output == f"added ann@example.com (admin); they sign in at {PUBLIC_URL}/signin\n"
    user = cli.store.verify_user_password("ann@example.com", PASSWORD)
    assert user is not None
    assert user.role is UserRole.ADMIN


def test_add_prompts_twice_on_a_terminal(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "stdin_is_terminal", lambda: True)

    result = cli("users", "add", "bob@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "Password: \nAgain: \n" in result.output
    assert PASSWORD not in result.output
    user = cli.store.verify_user_password("bob@example.com", PASSWORD)
    assert user is not None
    assert user.role is UserRole.VIEWER


def test_two_different_typings_are_asked_again(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "stdin_is_terminal", lambda: True)

    result = cli(
        "users",
        "add",
        "bob@example.com",
        input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert "Error: The two entered values do not match." in result.output
    assert cli.store.verify_user_password("bob@example.com", PASSWORD) is not None


def test_without_a_terminal_or_stdin_flag_nothing_is_added(cli: Cli) -> None:
    result = cli("users", "add", "bob@example.com", input="")

    assert result.exit_code == 1
    assert "pipe it in with --password-stdin" in result.output
    assert cli.store.list_users() == []


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "is not an email address"),
        ("bob@example.com", "short", "at least 10 characters"),
        ("bob@example.com", "", "standard input held no password"),
    ],
)
def test_add_refuses_what_cannot_work(cli: Cli, email: str, password: str, message: str) -> None:
    result = cli("users", "add", email, "--password-stdin", input=password + "\n")

    assert result.exit_code == 1
    assert message in result.output
    assert cli.store.list_users() == []


def test_a_taken_email_is_refused(cli: Cli) -> None:
    cli.store.add_user("bob@example.com", PASSWORD)

    result = cli("users", "add", "BOB@example.com", "--password-stdin", input=PASSWORD + "\n")

    assert result.exit_code == 1
    assert "a user 'bob@example.com' exists already" in result.output


def test_list_shows_users_and_never_a_hash(cli: Cli) -> None:
    cli.store.add_user("bob@example.com", PASSWORD, UserRole.VIEWER)
    cli.store.add_user("ann@example.com", PASSWORD, UserRole.ADMIN)

    table = cli("users", "list")
    as_json = cli("users", "list", "--json")

    assert table.exit_code == 0
    rows = lines(table.output)
    assert columns(rows[0])[:2] == ["EMAIL", "ROLE"]
    assert [columns(row)[:3] for row in rows[1:]] == [
        ["ann@example.com", "admin", "-"],
        ["bob@example.com", "viewer", "-"],
    ]
    listed = json.loads(as_json.output)
    assert [(user["email"], user["role"]) for user in listed] == [
        ("ann@example.com", "admin"),
        ("bob@example.com", "viewer"),
    ]
    assert set(listed[0]) == {"id", "email", "role", "last_sign_in_at", "locked_until",
                              "created_at"}  # fmt: skip
    assert "scrypt" not in table.output + as_json.output


def test_remove_asks_first_unless_yes(cli: Cli) -> None:
    cli.store.add_user("bob@example.com", PASSWORD)

    kept = cli("users", "remove", "bob@example.com", input="n\n")
    assert kept.exit_code == 1
    assert cli.store.find_user("bob@example.com") is not None

    removed = cli("users", "remove", "bob@example.com", "--yes")
    assert removed.exit_code == 0
    assert removed.output == "removed bob@example.com\n"
    assert cli.store.find_user("bob@example.com") is None


def test_remove_refuses_the_last_admin_and_nobody(cli: Cli) -> None:
    cli.store.add_user("ann@example.com", PASSWORD, UserRole.ADMIN)

    last = cli("users", "remove", "ann@example.com", "--yes")
    nobody = cli("users", "remove", "zed@example.com", "--yes")

    assert last.exit_code == 1
    assert "ann@example.com is the only admin: add another admin first" in last.output
    assert nobody.exit_code == 1
    assert "no user 'zed@example.com'" in nobody.output
    assert cli.store.find_user("ann@example.com") is not None


def test_reset_password_sets_a_new_one(cli: Cli) -> None:
    cli.store.add_user("bob@example.com", PASSWORD)

    result = cli("users", "reset-password", "bob@example.com", "--password-stdin",
                 input="a brand new password\n")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "new password set for bob@example.com" in result.output
    assert cli.store.verify_user_password("bob@example.com", PASSWORD) is None
    assert cli.store.verify_user_password("bob@example.com", "a brand new password") is not None


def test_reset_password_of_nobody_asks_for_no_password(cli: Cli) -> None:
    result = cli("users", "reset-password", "zed@example.com", "--password-stdin", input="")

    assert result.exit_code == 1
    assert "no user 'zed@example.com'" in result.output
