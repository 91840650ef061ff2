"""The one list of HighLevel Social Planner paths socialbridge calls.

Templates are written exactly as in the official OpenAPI files (`{locationId}`, `{id}`), so a
test can check that every endpoint here exists in `apps/social-media-posting.json` and in
`apps/v3/social-planner-v3.json` with the same method.
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
    """One operation of the GHL API: its method, path template and spec operationId."""

    method: str
    template: str
    operation_id: str

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
# The v3 file names this operation `get-statistics`; the path and method are the same.
STATISTICS = Endpoint("POST", "/social-media-posting/statistics", "get-social-media-statistics")

ALL: tuple[Endpoint, ...] = (TAGS, TAG_DETAILS, ACCOUNTS, POST, STATISTICS)
