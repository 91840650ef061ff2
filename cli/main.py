"""The `socialbridge` command group."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from cli import connections, demo, events, ixact, mappings, secrets, stats, users
from cli.params import PORT
from cli.runtime import Runtime, pass_runtime
from socialbridge.config import settings_environment
from store import StoreError


class Commands(click.Group):
    """The top group: it sees every argument first and every failure last.

    It refuses an argument that is not valid text before any command runs, and turns a store
    failure anywhere below into one line (exit code 1) instead of a traceback.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for index, arg in enumerate(args):
            if any("\ud800" <= character <= "\udfff" for character in arg):
                # Bytes that are not UTF-8 reach Python as lone surrogates, which no database,
                # JSON body or terminal takes.
                after = (
                    f" (after {args[index - 1]})" if index and args[index - 1][:1] == "-" else ""
                )
                raise click.UsageError(
                    f"argument {arg!r}{after} is not valid text: it holds bytes that are not UTF-8",
                    ctx,
                )
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoreError as exc:
            raise click.ClickException(f"store: {exc}") from exc


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="socialbridge")
@click.pass_context
def main(ctx: click.Context) -> None:
    """socialbridge: CRM post records <-> HighLevel Social Planner.

    Settings come from the environment (docs/configuration.md); while `make run` runs, commands
    started in the project folder also read its var/socialbridge.env.
    """
    runtime = Runtime()
    ctx.obj = runtime
    ctx.call_on_close(runtime.close)


@main.command()
@click.option(
    "--web-port", type=PORT, default=8000, show_default=True, help="Port of the web process."
)
@click.option(
    "--ghl-port", type=PORT, default=8010, show_default=True, help="Port of the sandbox GHL."
)
@click.option(
    "--crm-port", type=PORT, default=8020, show_default=True, help="Port of the sandbox CRM."
)
@click.option(
    "--smartoffice-port",
    type=PORT,
    default=8030,
    show_default=True,
    help="Port of the SmartOffice sandbox.",
)
@click.option("--flower-port", type=PORT, default=5555, show_default=True, help="Port of Flower.")
@click.option(
    "--mail-port",
    type=PORT,
    default=8040,
    show_default=True,
    help="Port of the sandbox mail server's page (HTTP).",
)
@click.option(
    "--smtp-port",
    type=PORT,
    default=8025,
    show_default=True,
    help="Port of the sandbox mail server's SMTP server.",
)
def dev(
    web_port: int,
    ghl_port: int,
    crm_port: int,
    smartoffice_port: int,
    flower_port: int,
    mail_port: int,
    smtp_port: int,
) -> None:
    """Run everything on this machine (what `make run` calls)."""
    from cli.dev.run import run_dev

    ports = {"--web-port": web_port, "--ghl-port": ghl_port, "--crm-port": crm_port,
             "--smartoffice-port": smartoffice_port, "--flower-port": flower_port,
             "--mail-port": mail_port, "--smtp-port": smtp_port}  # fmt: skip
    for option, port in ports.items():
        same = [other for other, taken in ports.items() if taken == port and other != option]
        if same:
            raise click.UsageError(
                f"{option} and {same[0]} are both {port}: each process needs a port of its own"
            )

    code = run_dev(
        root=Path.cwd(),
        web_port=web_port,
        ghl_port=ghl_port,
        crm_port=crm_port,
        smartoffice_port=smartoffice_port,
        flower_port=flower_port,
        mail_port=mail_port,
        smtp_port=smtp_port,
    )
    raise SystemExit(code)


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=PORT, default=5555, show_default=True, help="Port to bind.")
@click.argument("flower_args", nargs=-1, type=click.UNPROCESSED)
@pass_runtime
def flower(runtime: Runtime, address: str, port: int, flower_args: tuple[str, ...]) -> None:
    """Run Flower on the broker, always behind basic auth (FLOWER_USER, FLOWER_PASSWORD).

    Extra arguments go to `celery flower` as they are.
    """
    settings = runtime.settings
    if not settings.flower_password:
        raise click.ClickException(
            "FLOWER_PASSWORD: not set; Flower shows task arguments and is never served without"
            " a password"
        )
    env = {
        **os.environ,
        **settings_environment(settings),
        # Through the environment, not argv, so the password does not show in `ps`.
        "FLOWER_BASIC_AUTH": f"{settings.flower_user}:{settings.flower_password}",
    }
    argv = [sys.executable, "-m", "celery", "-A", "workers", "flower",
            f"--address={address}", f"--port={port}", *flower_args]  # fmt: skip
    os.execve(sys.executable, argv, env)  # noqa: S606 - argv is ours, no shell on purpose


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_runtime
def db_upgrade(runtime: Runtime) -> None:
    """Create or migrate the tables (DATABASE_URL) to the newest revision."""
    from store.migrate import upgrade

    url = runtime.settings.database_url
    click.echo(f"upgrading {_safe_url(url)} ...")
    try:
        upgrade(url)
    except Exception as exc:
        raise click.ClickException(f"migration failed: {exc}") from exc
    click.echo("database is up to date")


def _safe_url(url: str) -> str:
    """The URL without its password, fit for a terminal."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


main.add_command(connections.group)
main.add_command(events.group)
main.add_command(stats.group)
main.add_command(demo.group)
main.add_command(mappings.group)
main.add_command(ixact.group)
main.add_command(secrets.group)
main.add_command(users.group)
