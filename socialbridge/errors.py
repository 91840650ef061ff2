"""The error tree every outside-system client raises, and the flows and tasks understand.

    SocialbridgeError
     └── IntegrationError            a call to GHL or to the CRM failed
          ├── RetryableError         network, timeout, 5xx, 429: try again later
          ├── AuthError              token invalid or scope missing: refresh once, then park
          │    ├── ScopeError        the token lacks a scope (`scope` names it): a refresh
          │    │                     gives the same scopes, so re-authorize with it instead
          │    └── OAuthGrantError   the OAuth token endpoint refused a grant (`error`:
          │                          invalid_grant, invalid_client, …)
          └── PermanentError         4xx validation: retrying will not help

Only the HTTP edge (webapp) and the task layer (workers) turn these into status codes or
retry decisions; clients never leak httpx's own exceptions.
"""

from __future__ import annotations


class SocialbridgeError(Exception):
    """Base of every error socialbridge raises on purpose."""


class IntegrationError(SocialbridgeError):
    """A call to an outside system (``system``: "ghl" or "crm") did not succeed."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status: int | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.status = status
        self.trace_id = trace_id

    def __str__(self) -> str:
        parts = [f"{self.system}: {self.message}"]
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.trace_id:
            parts.append(f"[traceId {self.trace_id}]")
        return " ".join(parts)


class RetryableError(IntegrationError):
    """Worth trying again; ``retry_after`` is the delay in seconds the server asked for."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status: int | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, system=system, status=status, trace_id=trace_id)
        self.retry_after = retry_after


class AuthError(IntegrationError):
    """The credentials were refused; the connection needs new ones."""


class PermanentError(IntegrationError):
    """The request itself is wrong; sending it again gives the same answer."""


class ScopeError(AuthError):
    """The token is valid but lacks a scope the call needs; no refresh can add it.

    ``scope`` names the scope GHL wants (e.g. ``socialplanner/post.readonly``), because GHL's
    own answer ("The token is not authorized for this scope.") does not; None when unknown.
    """

    def __init__(
        self,
        message: str,
        *,
        system: str,
        scope: str | None,
        status: int | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message, system=system, status=status, trace_id=trace_id)
        self.scope = scope


class OAuthGrantError(AuthError):
    """An OAuth token endpoint refused a grant; ``error`` is the OAuth error code.

    The codes are OAuth 2.0's (RFC 6749, section 5.2): ``invalid_grant`` (a code or refresh
    token that is unknown, used, expired or revoked), ``invalid_client``, ``unauthorized_client``,
    ``invalid_request``, ``unsupported_grant_type``, ``invalid_scope``. The message never holds
    the code, token or secret that was refused.
    """

    def __init__(
        self,
        message: str,
        *,
        system: str,
        error: str,
        status: int | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message, system=system, status=status, trace_id=trace_id)
        self.error = error
