"""`socialbridge users add|list|remove|reset-password|token`: who may sign in to the web
console, and the API tokens their scripts use.

Each command calls the one function of `console.accounts` (`console.api_tokens` for
``users token …``) that the console's pages call too. A password is prompted twice on a
terminal (never echoed), or read as one line from standard input with ``--password-stdin``
(scripts, password managers); it is never an option, so it shows neither in `ps` nor in the
shell's history. An API token is printed once, by ``users token create``: only its hash is
kept.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from cli.render import NOTHING, emit_json, emit_table, table_time
from cli.runtime import Runtime, json_option, pass_runtime
from console import accounts, api_tokens
from store import (
    ApiTokenRecord,
    DuplicateName,
    InvalidEmail,
    NotFound,
    PasswordRefused,
    UserRecord,
    UserRole,
)

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
    kept = api_tokens.list_tokens(runtime.store, user.email)
    if kept:
        click.echo(
            f"their {len(kept)} API token(s) still work: see `socialbridge users token list "
            f"{user.email}`, revoke with `socialbridge users token revoke TOKEN_ID`"
        )


@group.group("token")
def token() -> None:
    """API tokens: scripts call /api/… with `Authorization: Bearer TOKEN`, as that user."""


@token.command("create")
@click.argument("email")
@click.option("--name", default="", help="What the token is for (shown in lists).")
@pass_runtime
def token_create(runtime: Runtime, email: str, name: str) -> None:
    """Make an API token for EMAIL's user and print it, this once: only its hash is kept."""
    try:
        made = api_tokens.create_token(runtime.store, email, name)
    except (NotFound, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(made.token)
    # The token alone on standard output (for `$(…)`); what it is, on standard error.
    click.echo(
        f"API token {made.record.id} of {made.record.email} ({_role_of(runtime, made)}); "
        "it is shown only now: keep it in your script's secret store",
        err=True,
    )


@token.command("list")
@click.argument("email", required=False)
@json_option
@pass_runtime
def token_list(runtime: Runtime, email: str | None, as_json: bool) -> None:
    """The API tokens of EMAIL's user (of every user without it); never the tokens."""
    try:
        found = api_tokens.list_tokens(runtime.store, email)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        emit_json([token_view(record) for record in found])
        return
    emit_table(
        [
            (
                record.id,
                record.email,
                record.name or NOTHING,
                table_time(record.created_at),
                table_time(record.last_used_at) or NOTHING,
            )
            for record in found
        ],
        ["ID", "EMAIL", "NAME", "CREATED (UTC)", "LAST USED (UTC)"],
    )


@token.command("revoke")
@click.argument("token_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_runtime
def token_revoke(runtime: Runtime, token_id: str, yes: bool) -> None:
    """Revoke the API token TOKEN_ID (from `users token list`): its next request gets 401."""
    found = runtime.store.get_api_token(token_id)
    if found is None:
        raise click.ClickException(f"no API token {token_id!r}")
    if not yes:
        label = f" ({found.name})" if found.name else ""
        click.confirm(f"Revoke API token {found.id}{label} of {found.email}?", abort=True)
    try:
        revoked = api_tokens.revoke_token(runtime.store, token_id)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked API token {revoked.id} of {revoked.email}")


def token_view(record: ApiTokenRecord) -> dict[str, Any]:
    """An API token as `users token list --json` prints it (never the token or its hash)."""
    return {
        "id": record.id,
        "email": record.email,
        "name": record.name,
        "created_at": record.created_at,
        "last_used_at": record.last_used_at,
    }


def _role_of(runtime: Runtime, made: api_tokens.NewToken) -> str:
    user = runtime.store.get_user(made.record.user_id)
    return f"acts as {user.role}" if user is not None else "its user is gone"


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
