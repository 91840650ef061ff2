"""A fake HighLevel for httpx.MockTransport: canned, spec-valid answers, and a spec check of
every request the client sends and every answer the fake gives back.

    fake = FakeGHL()
    client = GHLClient(httpx.Client(base_url=BASE_URL, transport=httpx.MockTransport(fake)), …)

`fake.queue(...)` puts answers (or exceptions to raise) ahead of the routed ones. An answer
the spec cannot describe (a proxy's HTML page on a 200, …) must be queued with
`off_spec=True`, so that drift of the normal canned answers is always caught.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx

from ghl import endpoints
from tests.openapi_validation import validate_request, validate_response

BASE_URL = "https://services.leadconnectorhq.com"
LOCATION = "loc_1"
TRACE_ID = "42fc8dd8-d55b-475f-944f-9efb90d77564"
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Max": "100",
    "X-RateLimit-Remaining": "97",
    "X-RateLimit-Interval-Milliseconds": "10000",
    "X-RateLimit-Limit-Daily": "200000",
    "X-RateLimit-Daily-Remaining": "199990",
}


def tag_json(index: int, location_id: str = LOCATION) -> dict[str, Any]:
    """A tag as GHL sends it (`SocialMediaTagSchema`): its name is under `tag`."""
    return {
        "_id": f"tag_{index:03d}",
        "tag": f"Tag {index}",
        "locationId": location_id,
        "createdBy": "user_1",
        "deleted": False,
        "createdAt": "2024-08-02T10:00:00.000Z",
        "updatedAt": "2024-08-02T10:00:00.000Z",
    }


ACCOUNTS = [
    {
        "id": "acc_fb",
        "oauthId": "oauth_fb",
        "profileId": "prof_fb",
        "name": "Facebook Page",
        "platform": "facebook",
        "type": "page",
        "expire": "2030-01-01T00:00:00.000Z",
        "isExpired": False,
        "meta": {"canDelete": True},
    },
    {
        "id": "acc_ig",
        "oauthId": "oauth_ig",
        "profileId": "prof_ig",
        "name": "Instagram",
        "platform": "instagram",
        "type": "business",
        "isExpired": False,
    },
    # Not every account carries a profileId.
    {"id": "acc_gmb", "oauthId": "oauth_gmb", "name": "Google Business", "platform": "google"},
]

POST = {
    "_id": "post_1",
    "source": "composer",
    "locationId": LOCATION,
    "platform": "facebook",
    "displayDate": "2024-08-02T10:00:00.000Z",
    "createdAt": "2024-08-01T10:00:00.000Z",
    "updatedAt": "2024-08-02T10:00:00.000Z",
    "accountId": "acc_fb",
    "error": "",
    "accountIds": ["acc_fb"],
    "summary": "Open house on Saturday",
    "media": [{"url": "https://example.com/house.jpg", "type": "image/png"}],
    # The spec types `type` (required) and `status` as objects although its examples are
    # strings ("post", "published"); the canned post follows the spec, the client ignores both.
    "type": {},
    "tags": ["tag_001", "tag_002"],
}


def statistics_results(scale: int = 1) -> dict[str, Any]:
    """A statistics `results` object for two platforms, every count multiplied by `scale`.

    Counts are JSON integers, as GHL sends them; the percentages of `change` are not all.
    """

    def series(*values: int) -> list[int]:
        return [value * scale for value in values]

    return {
        "dayRange": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        "totals": {
            "posts": 5 * scale,
            "likes": 30 * scale,
            "followers": 1000 * scale,
            "impressions": 700 * scale,
            "comments": 7 * scale,
        },
        "postPerformance": {
            "posts": {
                "facebook": series(1, 0, 1, 0, 1, 0, 0),
                "instagram": series(0, 1, 0, 0, 0, 0, 1),
            },
            "impressions": series(100, 100, 100, 100, 100, 100, 100),
            "likes": series(5, 5, 5, 5, 5, 5, 0),
            "comments": series(1, 1, 1, 1, 1, 1, 1),
        },
        "breakdowns": {
            "posts": {
                "total": 5 * scale,
                "totalChange": 25,
                "platforms": {
                    "facebook": {"value": 3 * scale, "change": 50},
                    "instagram": {"value": 2 * scale, "change": 0},
                },
            },
            "impressions": {
                "total": 700 * scale,
                "totalChange": -10.5,
                "platforms": {
                    "facebook": {"value": 400 * scale, "change": -5},
                    "instagram": {"value": 300 * scale, "change": -15},
                },
            },
            "reach": {
                "total": 500 * scale,
                "totalChange": 0,
                "platforms": {
                    "facebook": {"value": 300 * scale, "change": 0},
                    "instagram": {"value": 200 * scale, "change": 0},
                },
            },
            "engagement": {
                "facebook": {
                    "likes": 20 * scale,
                    "comments": 4 * scale,
                    "shares": 2 * scale,
                    "change": 1,
                },
                "instagram": {
                    "likes": 10 * scale,
                    "comments": 3 * scale,
                    "shares": 0,
                    "change": -1,
                },
            },
        },
        "platformTotals": {
            "followers": {
                "facebook": {
                    "total": 600 * scale,
                    "series": series(600, 600, 600, 600, 600, 600, 600),
                }
            }
        },
    }


def json_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """An answer with a JSON body, GHL's rate-limit headers and any extra `headers`."""
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json; charset=utf-8",
            **RATE_LIMIT_HEADERS,
            **(headers or {}),
        },
    )


def error_response(
    status: int, message: str | list[str], headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """GHL's error body `{statusCode, message, error}` (message a list on 422)."""
    error = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        422: "Unprocessable Entity",
        429: "Too Many Requests",
    }.get(status, "Error")
    body = {"statusCode": status, "message": message, "error": error, "traceId": TRACE_ID}
    return json_response(status, body, headers)


@dataclass
class _Queued:
    answer: httpx.Response | Exception
    off_spec: bool


def _route_pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", "([^/]+)", re.escape(template)) + "$")


class FakeGHL:
    """Answers the five Social Planner calls the client makes, like GHL would."""

    def __init__(self, tag_count: int = 250, count_mode: str | None = "total") -> None:
        self.tags = [tag_json(index) for index in range(1, tag_count + 1)]
        # What `results.count` holds: the total ("total"), the page size ("page"), or nothing.
        self.count_mode = count_mode
        self.ignore_skip = False
        self.requests: list[httpx.Request] = []
        self._queue: list[_Queued] = []
        self._routes: list[
            tuple[str, re.Pattern[str], Callable[[httpx.Request], httpx.Response]]
        ] = [
            (endpoints.TAGS.method, _route_pattern(endpoints.TAGS.template), self._tags),
            (
                endpoints.TAG_DETAILS.method,
                _route_pattern(endpoints.TAG_DETAILS.template),
                self._tag_details,
            ),
            (
                endpoints.ACCOUNTS.method,
                _route_pattern(endpoints.ACCOUNTS.template),
                self._accounts,
            ),
            (endpoints.POST.method, _route_pattern(endpoints.POST.template), self._post),
            (
                endpoints.STATISTICS.method,
                _route_pattern(endpoints.STATISTICS.template),
                self._statistics,
            ),
        ]

    def queue(self, *answers: httpx.Response | Exception, off_spec: bool = False) -> None:
        """Answer the next requests with these (an Exception is raised instead of answering)."""
        self._queue.extend(_Queued(answer, off_spec) for answer in answers)

    def bodies(self) -> list[Any]:
        """The JSON bodies the client sent, in order (None for a request without one)."""
        return [
            json.loads(request.content) if request.content else None for request in self.requests
        ]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        validate_request(request.method, str(request.url), request.headers, request.content or None)
        if self._queue:
            queued = self._queue.pop(0)
            if isinstance(queued.answer, Exception):
                raise queued.answer
            response, off_spec = queued.answer, queued.off_spec
        else:
            response, off_spec = self._route(request), False
        if not off_spec:
            validate_response(
                request.method,
                str(request.url),
                response.status_code,
                response.headers,
                response.content,
                request_headers=request.headers,
            )
        return response

    def _route(self, request: httpx.Request) -> httpx.Response:
        # The raw path: an id holding an encoded "/" must stay one segment, as on a real server.
        raw_path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        for method, pattern, handler in self._routes:
            if request.method == method and pattern.match(raw_path):
                return handler(request)
        raise AssertionError(f"the fake GHL has no route for {request.method} {request.url.path}")

    def _tags(self, request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params.get("limit", "10"))
        skip = 0 if self.ignore_skip else int(request.url.params.get("skip", "0"))
        page = self.tags[skip : skip + limit]
        results: dict[str, Any] = {"tags": page}
        if self.count_mode == "total":
            results["count"] = len(self.tags)
        elif self.count_mode == "page":
            results["count"] = len(page)
        body = {
            "success": True,
            "statusCode": 200,
            "message": "Fetched Tags by Location ID",
            "results": results,
            "traceId": TRACE_ID,
        }
        return json_response(200, body)

    def _tag_details(self, request: httpx.Request) -> httpx.Response:
        wanted = json.loads(request.content)["tagIds"]
        tags = [tag for tag in self.tags if tag["_id"] in wanted]
        body = {
            "success": True,
            "statusCode": 201,
            "message": "Fetched Tags by Tag IDs",
            "results": {"tags": tags, "count": len(tags)},
            "traceId": TRACE_ID,
        }
        return json_response(201, body)

    def _accounts(self, request: httpx.Request) -> httpx.Response:
        body = {
            "success": True,
            "statusCode": 200,
            "message": "Fetched Accounts",
            "results": {"accounts": ACCOUNTS, "groups": []},
            "traceId": TRACE_ID,
        }
        return json_response(200, body)

    def _post(self, request: httpx.Request) -> httpx.Response:
        post_id = unquote(request.url.raw_path.decode("ascii").split("?", 1)[0].rsplit("/", 1)[1])
        if post_id != POST["_id"]:
            return error_response(400, "Post not found")
        body = {
            "success": True,
            "statusCode": 200,
            "message": "Fetched Post",
            "results": {"post": POST},
            "traceId": TRACE_ID,
        }
        return json_response(200, body)

    def _statistics(self, request: httpx.Request) -> httpx.Response:
        profile_ids = json.loads(request.content)["profileIds"]
        body = {
            "results": statistics_results(scale=len(profile_ids)),
            "message": "Analytics Built Successfully",
            "traceId": TRACE_ID,
        }
        # Version 2021-07-28 answers 201, v3 answers 200 (each file says so).
        return json_response(200 if request.headers["Version"] == "v3" else 201, body)
