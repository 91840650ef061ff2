"""`socialbridge secrets rotate`: re-encrypt every stored secret under the current SECRET_KEY.

The work is `Store.rotate_secrets` (store/rotation.py); this renders it. The procedure around
it (new SECRET_KEY, the old one in SECRET_KEY_FALLBACKS, restart, rotate, drop the fallback) is
in docs/operations.md, "Rotating SECRET_KEY".
"""

from __future__ import annotations

from dataclasses import asdict

import click

from cli.render import emit_fields, emit_json
from cli.runtime import Runtime, json_option, pass_runtime
from store.rotation import RotationRefused

# With thousands of connections the second pass takes a while; a line every so many says it
# is moving without flooding the terminal.
PROGRESS_EVERY = 100


@click.group("secrets")
def group() -> None:
    """Secrets stored encrypted (SECRET_KEY)."""


@group.command("rotate")
@click.option("--dry-run", is_flag=True, help="Only count what would be re-encrypted.")
@json_option
@pass_runtime
def rotate(runtime: Runtime, dry_run: bool, as_json: bool) -> None:
    """Re-encrypt every stored secret (connections, agency grants) under SECRET_KEY.

    Values stored under a key of SECRET_KEY_FALLBACKS are re-encrypted; those already under
    SECRET_KEY are left as they are. If any value opens with no key, nothing is changed and
    the command names each connection and column (exit 1). Run it again at any time: it
    only does what is left to do.
    """

    def progress(done: int, total: int) -> None:
        if done % PROGRESS_EVERY == 0 or done == total:
            click.echo(f"  {done}/{total} connections re-encrypted", err=True)

    try:
        report = runtime.store.rotate_secrets(
            dry_run=dry_run, progress=None if as_json else progress
        )
    except RotationRefused as refused:
        if as_json:
            emit_json(
                {
                    "error": "unreadable",
                    "unreadable": [asdict(value) for value in refused.unreadable],
                    "unreadable_agencies": [asdict(value) for value in refused.unreadable_agencies],
                }
            )
        raise click.ClickException(str(refused)) from None
    if as_json:
        emit_json(asdict(report))
        return
    holders = f"{report.connections_rotated} connection(s)"
    fields: dict[str, object] = {"connections": report.connections}
    if report.agencies:
        # Only where there are any: most installs have no agency grant at all.
        fields["agency grants"] = report.agencies
        holders += f" and {report.agencies_rotated} agency grant(s)"
    fields["would re-encrypt" if dry_run else "re-encrypted"] = (
        f"{report.values_rotated} value(s) of {holders}"
    )
    fields["already current"] = f"{report.values_current} value(s)"
    emit_fields(fields)
    if dry_run:
        click.echo("dry run: nothing was changed")
    else:
        click.echo("every stored secret is under SECRET_KEY now: SECRET_KEY_FALLBACKS can go")
