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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

VERSION_2021_07_28 = "2021-07-28"
VERSION_V3 = "v3"

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Endpoint:
    """One operation of the GHL API: method, path template, spec operationId and `Version`."""

    method: str
    template: str
    operation_id: str
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


TAGS = Endpoint("GET", "/social-media-posting/{locationId}/tags", "get-tags-location-id")
TAG_DETAILS = Endpoint("POST", "/social-media-posting/{locationId}/tags/details", "get-tags-by-ids")
ACCOUNTS = Endpoint("GET", "/social-media-posting/{locationId}/accounts", "get-account")
POST = Endpoint("GET", "/social-media-posting/{locationId}/posts/{id}", "get-post")
STATISTICS = Endpoint("POST", "/social-media-posting/statistics", "get-social-media-statistics")
# The same path in v3, under another operationId: the one that takes `currentRange`.
STATISTICS_RANGE = Endpoint(
    "POST", "/social-media-posting/statistics", "get-statistics", version=VERSION_V3
)

ALL: tuple[Endpoint, ...] = (TAGS, TAG_DETAILS, ACCOUNTS, POST, STATISTICS, STATISTICS_RANGE)
