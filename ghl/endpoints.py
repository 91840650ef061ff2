"""The one list of HighLevel Social Planner operations socialbridge calls, with their versions.

GHL versions its API per request, in the `Version` header, and each version has its own
OpenAPI file: `apps/social-media-posting.json` is `Version: 2021-07-28`,
`apps/v3/social-planner-v3.json` is `Version: v3`. An `Endpoint` names the version it is
spoken in, so the client never chooses a version anywhere else:

    operation                          version     why
    ---------------------------------  ----------  --------------------------------------------
    tags, tag details, accounts, post  2021-07-28  the stable version; v3 answers the same
    statistics (last 7 days)           2021-07-28  answers 201 with the last 7 days
    statistics of a date range         v3          only v3 has `currentRange` (answers 200)

Templates are written exactly as in the official OpenAPI files (`{locationId}`, `{id}`), so a
test can check that every endpoint exists in the file of its version, with the same method and
operationId.

Each endpoint also names the OAuth scope it needs, because GHL's refusal ("The token is not
authorized for this scope.") does not say which one is missing:

    operation                          scope                                where the files say so
    ---------------------------------  -----------------------------------  ---------------------
    tags, tag details                  socialplanner/tag.readonly           nowhere (`[]`)
    accounts                           socialplanner/account.readonly       both files
    post                               socialplanner/post.readonly          `[]`; listing posts
                                                                            names it
    statistics (both)                  socialplanner/statistics.readonly    v3 only

Where a file leaves an operation's scopes empty, the scope is the one GHL's scope list gives
its resource, and the one the sandbox GHL enforces. `OAUTH_SCOPES` is what an install asks for.

The OAuth 2.0 operations of `apps/oauth.json` live here too, so that their paths are written
once: `OAUTH_TOKEN` (no bearer token, no `Version`: the client authenticates with its id and
secret in the form) and `OAUTH_LOCATION_TOKEN` (an agency token with `oauth.write`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

VERSION_2021_07_28 = "2021-07-28"
VERSION_V3 = "v3"

SCOPE_TAGS = "socialplanner/tag.readonly"
SCOPE_STATISTICS = "socialplanner/statistics.readonly"
SCOPE_ACCOUNTS = "socialplanner/account.readonly"
SCOPE_POSTS = "socialplanner/post.readonly"
SCOPE_LOCATION_TOKEN = "oauth.write"  # noqa: S105 - a scope name

OAUTH_SCOPES: tuple[str, ...] = (SCOPE_TAGS, SCOPE_STATISTICS, SCOPE_ACCOUNTS, SCOPE_POSTS)
"""The scopes the three flows need, in the order an install asks for them."""

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Endpoint:
    """One operation of the GHL API: method, path template, spec operationId, scope, `Version`.

    `scope` is the OAuth scope a token needs for it; None only for the token endpoint, which
    takes no bearer token at all. `version` is the `Version` header it is spoken in (for the
    token endpoint, which declares no header, the version of the file it is described in).
    """

    method: str
    template: str
    operation_id: str
    scope: str | None
    version: str = VERSION_2021_07_28

    def path(self, **params: str) -> str:
        """The template with every placeholder filled in, each value percent-encoded.

        Encoding every character outside the unreserved set keeps an id such as ``a/../b``
        from reaching another path of the API.
        """
        names = set(_PLACEHOLDER.findall(self.template))
        if names != set(params):
            raise ValueError(
                f"{self.operation_id}: expected parameters {sorted(names)}, got {sorted(params)}"
            )
        for name, value in params.items():
            if not value:
                raise ValueError(f"{self.operation_id}: {name} must not be empty")
        return _PLACEHOLDER.sub(lambda match: quote(params[match.group(1)], safe=""), self.template)


TAGS = Endpoint(
    "GET", "/social-media-posting/{locationId}/tags", "get-tags-location-id", SCOPE_TAGS
)
TAG_DETAILS = Endpoint(
    "POST", "/social-media-posting/{locationId}/tags/details", "get-tags-by-ids", SCOPE_TAGS
)
ACCOUNTS = Endpoint(
    "GET", "/social-media-posting/{locationId}/accounts", "get-account", SCOPE_ACCOUNTS
)
POST = Endpoint("GET", "/social-media-posting/{locationId}/posts/{id}", "get-post", SCOPE_POSTS)
STATISTICS = Endpoint(
    "POST", "/social-media-posting/statistics", "get-social-media-statistics", SCOPE_STATISTICS
)
# The same path in v3, under another operationId: the one that takes `currentRange`.
STATISTICS_RANGE = Endpoint(
    "POST",
    "/social-media-posting/statistics",
    "get-statistics",
    SCOPE_STATISTICS,
    version=VERSION_V3,
)

ALL: tuple[Endpoint, ...] = (TAGS, TAG_DETAILS, ACCOUNTS, POST, STATISTICS, STATISTICS_RANGE)
"""The Social Planner operations the flows call (and `connections check` tries)."""

# The OAuth 2.0 operations of `apps/oauth.json` (the v3 file renames them; we speak this one).
OAUTH_TOKEN = Endpoint("POST", "/oauth/token", "get-access-token", None)
OAUTH_LOCATION_TOKEN = Endpoint(
    "POST", "/oauth/locationToken", "get-location-access-token", SCOPE_LOCATION_TOKEN
)
