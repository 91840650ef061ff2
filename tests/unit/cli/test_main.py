"""`socialbridge` itself: configuration errors as a user meets them, and `db upgrade`."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialbridge.embedded_redis import free_port
from store import Store
from store.migrate import current_revision, head_revision
from tests.unit.cli.conftest import Cli, lines


def test_help_lists_the_command_groups(cli: Cli) -> None:
    result = cli("--help")

    assert result.exit_code == 0
    for group in ("connections", "db", "demo", "dev", "events", "stats"):
        assert any(line.strip().startswith(group) for line in lines(result.output))


def test_db_upgrade_creates_the_schema_and_can_run_again(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"

    first = cli("db", "upgrade", DATABASE_URL=url)
    second = cli("db", "upgrade", DATABASE_URL=url)

    for result in (first, second):
        assert result.exit_code == 0, result.output
        assert result.output == f"upgrading {url} ...\ndatabase is up to date\n"
    assert current_revision(url) == head_revision()
    store = Store(url, "k")
    assert store.list_connections() == []
    store.dispose()


def test_db_upgrade_hides_the_password_and_says_why_it_failed(cli: Cli) -> None:
    port = free_port()
    url = f"postgresql+psycopg://bridge:s3cr3t-pass@127.0.0.1:{port}/bridge"

    result = cli("db", "upgrade", DATABASE_URL=url)

    assert result.exit_code == 1
    assert lines(result.stdout)[0] == (
        f"upgrading postgresql+psycopg://bridge:***@127.0.0.1:{port}/bridge ..."
    )
    assert result.stderr.startswith("Error: migration failed: ")
    assert "s3cr3t-pass" not in result.output


def test_a_setting_of_the_wrong_form_is_one_clear_line(cli: Cli) -> None:
    result = cli("connections", "list", DATABASE_URL="mysql://db/bridge")

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: configuration: DATABASE_URL: expected a sqlite:// or postgresql:// URL, "
        "got 'mysql://db/bridge'\n"
    )


def test_a_missing_secret_key_says_how_to_make_one(cli: Cli) -> None:
    result = cli("connections", "list", SECRET_KEY="")

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: configuration: SECRET_KEY: not set. Generate one with")


def test_a_database_without_schema_says_to_upgrade(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"

    result = cli("connections", "list", DATABASE_URL=url)

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: store: the database has no schema yet (")
    assert result.stderr.endswith("run `socialbridge db upgrade`\n")


def test_the_env_file_of_make_run_is_read_from_the_working_folder(cli: Cli, tmp_path: Path) -> None:
    cli.connection("from-env-file")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "socialbridge.env").write_text(
        f"# written by make run\nDATABASE_URL={cli.env['DATABASE_URL']}\n"
        f"SECRET_KEY={cli.env['SECRET_KEY']}\n"
    )

    result = cli("connections", "list", DATABASE_URL=None, SECRET_KEY=None)

    assert result.exit_code == 0, result.output
    assert "from-env-file" in result.output


def test_flower_is_never_started_without_a_password(cli: Cli) -> None:
    result = cli("flower", FLOWER_PASSWORD=None)

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: FLOWER_PASSWORD: not set; Flower shows task arguments and is never served "
        "without a password\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("events", "list"),
        ("events", "show", "evt_0"),
        ("events", "replay", "--dead"),
        ("stats", "sync", "acme"),
        ("connections", "show", "acme"),
        ("connections", "rotate-secret", "acme"),
        ("demo", "send", "post.published"),
    ],
)
def test_every_command_meets_a_store_failure_with_one_line(
    cli: Cli, tmp_path: Path, args: tuple[str, ...]
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"

    result = cli(*args, DATABASE_URL=url)

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: store: the database has no schema yet (")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("dev", "--web-port", "0"), "Invalid value for '--web-port': 0 is not in the range "
         "1<=x<=65535."),
        (("dev", "--ghl-port", "70000"), "Invalid value for '--ghl-port': 70000 is not in the "
         "range 1<=x<=65535."),
        (("dev", "--crm-port", "99999999999999999999"), "Invalid value for '--crm-port': "
         "99999999999999999999 is not in the range 1<=x<=65535."),
        (("dev", "--flower-port", "-1"), "Invalid value for '--flower-port': -1 is not in the "
         "range 1<=x<=65535."),
        (("dev", "--crm-port", "8000"), "--web-port and --crm-port are both 8000: each process "
         "needs a port of its own"),
        (("flower", "--port", "65536"), "Invalid value for '--port': 65536 is not in the range "
         "1<=x<=65535."),
        (("events", "list", "--limit", "0"), "Invalid value for '--limit': 0 is not in the "
         "range 1<=x<=1000."),
        (("events", "list", "--limit", "1001"), "Invalid value for '--limit': 1001 is not in "
         "the range 1<=x<=1000."),
        (("events", "list", "--limit", "99999999999999999999"), "Invalid value for '--limit': "
         "99999999999999999999 is not in the range 1<=x<=1000."),
        (("events", "show", "evt_\udcff"), "argument 'evt_\\udcff' is not valid text: it holds "
         "bytes that are not UTF-8"),
    ],
)  # fmt: skip
def test_number_options_out_of_bounds_are_usage_errors_before_anything_runs(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    # FLOWER_PASSWORD set: a flower that got past its options would exec Flower.
    result = cli(*args, FLOWER_PASSWORD="secret")

    assert result.exit_code == 2
    assert lines(result.stderr)[-1] == f"Error: {message}"
