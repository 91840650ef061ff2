"""Option types and checks shared by the commands: every bound in one place.

A value out of bounds is a usage error (exit code 2) that names the option and what it
allows, raised before anything is recorded. The connection checks are the store's own
(store/connections.py), so the command line and the store cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import click

from socialbridge.config import STATS_INTERVAL_MAX_SECONDS, STATS_INTERVAL_MIN_SECONDS
from socialbridge.inbound_auth import check_webhook_secret
from store.connections import LOCATION_ID_MAX_LENGTH, check_name, check_text

# Seconds between scheduled statistics syncs of a connection: 5 minutes to 31 days.
STATS_INTERVAL = click.IntRange(STATS_INTERVAL_MIN_SECONDS, STATS_INTERVAL_MAX_SECONDS)

# A TCP port to bind; 0 ("any free port") is refused because the other processes and the
# banner need to know the port in advance.
PORT = click.IntRange(1, 65535)

# Events a listing returns; `events list` reads them newest first in one query.
LIST_LIMIT = click.IntRange(1, 1000)


class Seconds(click.FloatRange):
    """A finite number of seconds within a range.

    click's FloatRange lets ``nan`` through (no comparison with it is true), and a NaN
    deadline never passes: a wait would never end.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return seconds


# How long `demo send` follows its event: more than 0, at most an hour.
WAIT_SECONDS = Seconds(0, 3600, min_open=True)

# The checks below take the value a user typed and pass None through: an option that
# `connections update` was not given stays unchanged.

Check = Callable[[click.Context, click.Parameter, str | None], str | None]


def _usage_error(field: str, error: ValueError) -> click.BadParameter:
    # The store names its field ("location_id: …"); click names the option already.
    return click.BadParameter(str(error).removeprefix(f"{field}: "))


def text(field: str, max_length: int | None = None, *, secret: bool = False) -> Check:
    """A check of a text option: stripped, then not empty, storable, at most ``max_length``."""

    def check(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_text(field, value.strip(), max_length=max_length, secret=secret)
        except ValueError as error:
            raise _usage_error(field, error) from None

    return check


def connection_name(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    """A connection's name: stripped, not empty, not like an id (``con_…``)."""
    if value is None:
        return None
    try:
        return check_name(value.strip())
    except ValueError as error:
        raise _usage_error("name", error) from None


location_id = text("location_id", LOCATION_ID_MAX_LENGTH)
ghl_token = text("ghl_token", secret=True)


def http_url(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    """An absolute http(s) URL with a host (and, if given, a valid port)."""
    if value is None:
        return None
    try:
        check_text("crm_url", value)
        parsed = urlparse(value)
        parsed.port  # noqa: B018 - reading it checks it: ValueError when out of range
    except ValueError as error:
        raise click.BadParameter(
            f"expected an http(s) URL, got {value!r}: {str(error).removeprefix('crm_url: ')}"
        ) from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise click.BadParameter(f"expected an http(s) URL, got {value!r}")
    return value


def webhook_secret(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    """A Standard Webhooks secret: ``whsec_`` and base64 of at least 16 bytes."""
    if value is None:
        return None
    if not value.startswith("whsec_"):
        raise click.BadParameter("expected a Standard Webhooks secret starting with whsec_")
    try:
        return check_webhook_secret(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
