"""`socialbridge users add|list|remove|reset-password`: who may sign in to the web console.

Each command calls the one function of `console.accounts` that the console's /users page
calls too. A password is prompted twice on a terminal (never echoed), or read as one line from
standard input with ``--password-stdin`` (scripts, password managers); it is never an option,
so it shows neither in `ps` nor in the shell's history.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from cli.render import NOTHING, emit_json, emit_table, table_time
from cli.runtime import Runtime, json_option, pass_runtime
from console import accounts
from store import DuplicateName, InvalidEmail, NotFound, PasswordRefused, UserRecord, UserRole

ROLE = click.Choice([role.value for role in UserRole])
PASSWORD_STDIN = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password as one line from standard input instead of prompting.",
)


@click.group("users")
def group() -> None:
    """People who may sign in to the web console (admin: changes; viewer: reads)."""


@group.command("add")
@click.argument("email")
@click.option("--role", type=ROLE, default=UserRole.VIEWER.value, show_default=True)
@PASSWORD_STDIN
@pass_runtime
def add(runtime: Runtime, email: str, role: str, password_stdin: bool) -> None:
    """Add a user who signs in with EMAIL and a password."""
    password = read_password(password_stdin)
    try:
        user = accounts.add_user(runtime.store, email, password, UserRole(role))
    except (InvalidEmail, PasswordRefused, DuplicateName) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"added {user.email} ({user.role}); they sign in at {_signin_url(runtime)}")


@group.command("list")
@json_option
@pass_runtime
def list_(runtime: Runtime, as_json: bool) -> None:
    """Every user, with role, last sign-in and lock."""
    users = accounts.list_users(runtime.store)
    if as_json:
        emit_json([user_view(user) for user in users])
        return
    emit_table(
        [
            (
                user.email,
                user.role,
                table_time(user.last_sign_in_at) or NOTHING,
                table_time(user.locked_until) or NOTHING,
                table_time(user.created_at),
            )
            for user in users
        ],
        ["EMAIL", "ROLE", "LAST SIGN-IN (UTC)", "LOCKED UNTIL (UTC)", "ADDED (UTC)"],
    )


@group.command("remove")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_runtime
def remove(runtime: Runtime, email: str, yes: bool) -> None:
    """Delete a user; their open sessions end at their next request."""
    if not yes:
        click.confirm(f"Remove {email.strip().lower()} from the console?", abort=True)
    try:
        user = accounts.remove_user(runtime.store, email)
    except (NotFound, accounts.LastAdmin) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"removed {user.email}")


@group.command("reset-password")
@click.argument("email")
@PASSWORD_STDIN
@pass_runtime
def reset_password(runtime: Runtime, email: str, password_stdin: bool) -> None:
    """Set a new password: the account unlocks and its open sessions end."""
    # Checked first, so a mistyped email does not cost typing a password twice.
    if runtime.store.find_user(email) is None:
        raise click.ClickException(f"no user {email.strip().lower()!r}")
    password = read_password(password_stdin)
    try:
        user = accounts.reset_password(runtime.store, email, password)
    except PasswordRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"new password set for {user.email}; their other sessions are signed out")


def user_view(user: UserRecord) -> dict[str, Any]:
    """A user as `users list --json` prints it (never anything of the password)."""
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "last_sign_in_at": user.last_sign_in_at,
        "locked_until": user.locked_until,
        "created_at": user.created_at,
    }


def read_password(from_stdin: bool) -> str:
    """The password: one line of standard input, or typed twice on a terminal."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise click.ClickException("--password-stdin: standard input held no password")
        return password
    if not stdin_is_terminal():
        raise click.ClickException(
            "no terminal to ask the password on: pipe it in with --password-stdin"
        )
    typed: str = click.prompt("Password", hide_input=True, confirmation_prompt="Again")
    return typed


def stdin_is_terminal() -> bool:
    """Whether a person can type at standard input (a function, so tests can be one)."""
    return sys.stdin.isatty()


def _signin_url(runtime: Runtime) -> str:
    return f"{runtime.settings.base_url}/signin"
