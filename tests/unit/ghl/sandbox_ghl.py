"""The sandbox GHL in process, behind a transport that checks every exchange against the files.

    sandbox = SandboxGHL()                      # create_sandbox_ghl_app() + a CheckedTransport
    with sandbox.oauth() as oauth:              # GHLOAuth for the sandbox's marketplace app
        grant = sandbox.install(oauth)          # the install page's redirect, then the code

Every OAuth request the clients send is validated against `apps/oauth.json` before the sandbox
sees it, and every Social Planner request against the file of its `Version`; the answers are
validated too. A request off the file fails the test with `SpecViolation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx
from flask import Flask

from ghl.client import GHLClient, TokenSource
from ghl.endpoints import OAUTH_LOCATION_TOKEN, OAUTH_SCOPES, OAUTH_TOKEN
from ghl.oauth import GHLOAuth, TokenGrant
from sandbox.ghl import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, create_sandbox_ghl_app
from tests.openapi_validation import SpecValidator, validate_request, validate_response

BASE_URL = "http://sandbox-ghl.test"
AUTHORIZE_URL = f"{BASE_URL}/v2/oauth/chooselocation"
REDIRECT_URI = "https://bridge.example/oauth/ghl/callback"
OAUTH_FILE = "apps/oauth.json"
OAUTH_PATHS = (OAUTH_TOKEN.template, OAUTH_LOCATION_TOKEN.template)


@dataclass(frozen=True)
class Sent:
    """One request that reached the sandbox: method, path, headers, body, its form if any."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    form: dict[str, str]


class CheckedTransport(httpx.BaseTransport):
    """`httpx.WSGITransport` to a Flask app, checking each GHL exchange against its file."""

    def __init__(self, app: Flask) -> None:
        self._inner = httpx.WSGITransport(app=app)
        self._oauth_file = SpecValidator(OAUTH_FILE)
        self.sent: list[Sent] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read() or None
        url, path = str(request.url), request.url.path
        headers = dict(request.headers)
        checked = not (path.startswith("/_sandbox") or path.endswith("/chooselocation"))
        if path in OAUTH_PATHS:
            self._oauth_file.validate_request(request.method, url, headers, body)
        elif checked:
            validate_request(request.method, url, headers, body)
        form = dict(parse_qsl(body.decode())) if body and path in OAUTH_PATHS else {}
        self.sent.append(Sent(request.method, path, headers, body, form))

        answer = self._inner.handle_request(request)
        content = answer.read()
        if path in OAUTH_PATHS:
            self._oauth_file.validate_response(
                request.method,
                url,
                answer.status_code,
                dict(answer.headers),
                content,
                request_headers=headers,
            )
        elif checked:
            validate_response(
                request.method,
                url,
                answer.status_code,
                dict(answer.headers),
                content,
                request_headers=headers,
            )
        return httpx.Response(answer.status_code, headers=answer.headers, content=content)

    def to(self, path: str) -> list[Sent]:
        """The requests sent to `path`, in order."""
        return [sent for sent in self.sent if sent.path == path]


class SandboxGHL:
    """One in-process sandbox GHL, with clients wired to it through a CheckedTransport."""

    def __init__(self, **app_options: Any) -> None:
        self.app = create_sandbox_ghl_app(**app_options)
        self.transport = CheckedTransport(self.app)
        self.http = httpx.Client(base_url=BASE_URL, transport=self.transport)

    def close(self) -> None:
        self.http.close()

    def oauth(self, *, client_secret: str = SANDBOX_CLIENT_SECRET) -> GHLOAuth:
        return GHLOAuth(self.http, client_id=SANDBOX_CLIENT_ID, client_secret=client_secret)

    def client(self, token: str | TokenSource) -> GHLClient:
        return GHLClient(self.http, token=token)

    def code(
        self,
        oauth: GHLOAuth,
        *,
        location_id: str | None = "loc_demo",
        scopes: Sequence[str] = OAUTH_SCOPES,
        state: str = "state-1",
    ) -> str:
        """An authorization code from the install page: a location, or (None) the agency."""
        url = oauth.authorize_url(
            authorize_url=AUTHORIZE_URL, redirect_uri=REDIRECT_URI, state=state, scopes=scopes
        )
        choice = {"approve": "1"}
        choice.update({"agency": "1"} if location_id is None else {"location_id": location_id})
        # Added by hand: httpx replaces a URL's query when given `params`.
        chosen = self.http.get(f"{url}&{urlencode(choice)}")
        assert chosen.status_code == 302, chosen.text
        back = parse_qs(urlsplit(chosen.headers["Location"]).query)
        assert back["state"] == [state]
        return back["code"][0]

    def install(
        self,
        oauth: GHLOAuth,
        *,
        location_id: str | None = "loc_demo",
        scopes: Sequence[str] = OAUTH_SCOPES,
    ) -> TokenGrant:
        """The whole install: the page's redirect, then its code exchanged for a grant."""
        code = self.code(oauth, location_id=location_id, scopes=scopes)
        user_type = "Company" if location_id is None else "Location"
        return oauth.exchange_code(code, redirect_uri=REDIRECT_URI, user_type=user_type)

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        """Call the sandbox's admin API (`/_sandbox/...`) and return its JSON."""
        response = self.http.request(method, f"/_sandbox{path}", json=json)
        assert response.is_success, response.text
        return response.json()

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.admin("GET", "/oauth")["counts"]
        return counts
