"""The GHL half of `connections check`: every Social Planner call the flows make, one line each.

    GHL  scopes granted: socialplanner/tag.readonly socialplanner/account.readonly …  (OAuth)
    GHL  scopes missing: socialplanner/post.readonly                                  (OAuth)
    GHL  ok accounts: location loc_demo, 6 social accounts (6 with a profile id)
    GHL  FAILED tags: the token lacks scope socialplanner/tag.readonly
    GHL  skipped tag details: needs a tag id, and tags failed
    GHL  ok statistics: 5 profile(s), GHL's default period (the last 7 days)
    GHL  ok statistics (v3, dates): 5 profile(s), 2026-05-01 to 2026-05-07
    GHL  skipped post: no GHL post of this connection is known yet (… give one: --post-id)

A refusal of the token itself (not a scope) or GHL out of reach stops the calls after the
first, whose lines name what was not tried: every other call would only fail the same way:

    GHL  FAILED accounts: ghl: Invalid JWT (HTTP 401) [traceId …]
    GHL  skipped tags, tag details, statistics, statistics (v3, dates), post: the token was refused

Each call is the one a flow makes, with the client the workers use, so a missing scope shows
up here by name before an event meets it: GHL's own answer ("The token is not authorized for
this scope.") does not name it, the client does (`ScopeError.scope`). For an OAuth connection
the scopes GHL granted at install are compared with those the flows need (`OAUTH_SCOPES`)
without a call.

The post call needs the id of a real Social Planner post, and the API the flows use has no
cheap "any post" call (listing posts is a search the flows never make): it uses ``--post-id``,
else the newest GHL post a `post.published` event of this connection named, else it says why
it is skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from ghl.client import GHLClient
from ghl.endpoints import OAUTH_SCOPES
from socialbridge.errors import AuthError, IntegrationError, RetryableError, ScopeError
from store import ConnectionRecord, GhlAuth

# Statistics of this many of the location's first profiles: enough to exercise the call
# without asking GHL for the numbers of a hundred accounts.
CHECK_PROFILES = 10
# The date-range (v3) call asks for the last this many whole days.
CHECK_DAYS = 7

T = TypeVar("T")


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "FAILED"
    SKIPPED = "skipped"
    INFO = "info"


@dataclass(frozen=True)
class CheckLine:
    """One line of the check: ``GHL  <outcome> <what>: <detail>``."""

    outcome: Outcome
    what: str
    detail: str
    missing_scope: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED

    def __str__(self) -> str:
        if self.outcome is Outcome.INFO:
            return f"GHL  {self.what}: {self.detail}"
        return f"GHL  {self.outcome.value} {self.what}: {self.detail}"


def scope_lines(connection: ConnectionRecord) -> list[CheckLine]:
    """An OAuth connection's granted scopes, and which the flows need but lack (no call)."""
    if connection.ghl_auth != GhlAuth.OAUTH:
        return []
    granted = set(connection.scopes)
    missing = [scope for scope in OAUTH_SCOPES if scope not in granted]
    lines = [CheckLine(Outcome.INFO, "scopes granted", " ".join(connection.scopes) or "none")]
    if missing:
        lines.append(CheckLine(Outcome.FAILED, "scopes", "missing " + " ".join(missing)))
    else:
        lines.append(CheckLine(Outcome.OK, "scopes", "every scope the flows need"))
    return lines


def check_calls(
    ghl: GHLClient,
    location_id: str,
    *,
    post_id: str | None,
    today: dt.date,
) -> Iterator[CheckLine]:
    """Make each call the flows make, in their order, and say how each went."""
    runner = _Runner()

    accounts = runner.call("accounts", ghl.list_accounts, location_id)
    if accounts is not None:
        with_profile = list(dict.fromkeys(a.profile_id for a in accounts if a.profile_id))
        runner.ok(
            "accounts",
            f"location {location_id}, {len(accounts)} social accounts "
            f"({len(with_profile)} with a profile id)",
        )
    yield from runner.drain()

    tags = runner.call("tags", ghl.list_tags, location_id)
    if tags is not None:
        runner.ok("tags", f"{len(tags)} tags")
    yield from runner.drain()

    if tags is None:
        runner.skip("tag details", "needs a tag id, and tags failed")
    elif not tags:
        runner.skip("tag details", "the location has no tag to ask about")
    else:
        first = tags[0]
        details = runner.call("tag details", ghl.tag_details, location_id, [first.id])
        if details is not None:
            runner.ok("tag details", f"tag {first.id} ({first.name})")
    yield from runner.drain()

    profiles = (
        None
        if accounts is None
        else list(dict.fromkeys(a.profile_id for a in accounts if a.profile_id))[:CHECK_PROFILES]
    )
    start, end = today - dt.timedelta(days=CHECK_DAYS), today - dt.timedelta(days=1)
    for what, date_range, period in (
        ("statistics", None, "GHL's default period (the last 7 days)"),
        ("statistics (v3, dates)", (start, end), f"{start} to {end}"),
    ):
        if profiles is None:
            runner.skip(what, "needs profile ids, and accounts failed")
        elif not profiles:
            runner.skip(what, "no social account of the location has a profile id")
        else:
            stats = runner.call(what, ghl.statistics, location_id, profiles, date_range=date_range)
            if stats is not None:
                runner.ok(what, f"{len(profiles)} profile(s), {period}")
        yield from runner.drain()

    if post_id is None:
        runner.skip(
            "post",
            "no GHL post of this connection is known yet (a post.published event with "
            "ghl_post_id names one; or give one: --post-id)",
        )
    else:
        post = runner.call("post", ghl.get_post, location_id, post_id)
        if post is not None:
            runner.ok("post", f"{post.id} ({len(post.tag_ids)} tag ids)")
    yield from runner.finish()


class _Runner:
    """Makes calls until one shows that the others cannot succeed; collects their lines.

    After such a call, the calls left are named on one ``skipped`` line at the end.
    """

    def __init__(self) -> None:
        self._lines: list[CheckLine] = []
        self._stopped: str | None = None
        self._not_made: list[str] = []

    def call(self, what: str, make: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``make(*args, **kwargs)``, or None with a line saying why it failed or was skipped."""
        if self._stopped is not None:
            self._not_made.append(what)
            return None
        try:
            return make(*args, **kwargs)
        except ScopeError as exc:
            # GHL answers every other call the same token makes: go on with them.
            self._lines.append(_scope_line(what, exc))
        except (AuthError, RetryableError) as exc:
            self._lines.append(CheckLine(Outcome.FAILED, what, str(exc)))
            self._stopped = (
                "the token was refused" if isinstance(exc, AuthError) else "GHL did not answer"
            )
        except IntegrationError as exc:
            self._lines.append(CheckLine(Outcome.FAILED, what, str(exc)))
        return None

    def ok(self, what: str, detail: str) -> None:
        self._lines.append(CheckLine(Outcome.OK, what, detail))

    def skip(self, what: str, why: str) -> None:
        if self._stopped is not None:
            self._not_made.append(what)
        else:
            self._lines.append(CheckLine(Outcome.SKIPPED, what, why))

    def drain(self) -> Iterator[CheckLine]:
        lines, self._lines = self._lines, []
        yield from lines

    def finish(self) -> Iterator[CheckLine]:
        yield from self.drain()
        if self._stopped is not None and self._not_made:
            yield CheckLine(Outcome.SKIPPED, ", ".join(self._not_made), self._stopped)


def _scope_line(what: str, exc: ScopeError) -> CheckLine:
    if exc.scope is None:
        return CheckLine(Outcome.FAILED, what, f"the token lacks a scope this call needs: {exc}")
    return CheckLine(
        Outcome.FAILED, what, f"the token lacks scope {exc.scope}", missing_scope=exc.scope
    )
