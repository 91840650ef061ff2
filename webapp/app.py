"""The application factory: builds the Flask app and, beside it, the Celery app it enqueues to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from socialbridge.config import Settings
from socialbridge.logs import configure
from webapp import (
    account,
    analytics,
    analytics_api,
    api,
    api_connections,
    api_mappings,
    auth,
    connections,
    errors,
    events,
    formatting,
    ghl_webhooks,
    health,
    mappings,
    metrics,
    oauth,
    security,
    ui,
    users,
    webhooks,
)
from webapp.group_commit import GroupCommit
from workers.celery_app import make_celery
from workers.publish import TaskPublisher
from workers.services import Services


def create_app(
    config: Settings | Mapping[str, Any] | None = None, *, services: Services | None = None
) -> Flask:
    """Build the web app.

    ``config`` is a Settings, a mapping of settings (tests), or None (the environment).
    """
    if isinstance(config, Settings):
        settings = config
    elif config is None:
        settings = Settings.from_env()
        configure(settings.log_level, settings.log_format)
    else:
        settings = Settings.from_mapping(config)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.require_secret_key(),
        # Werkzeug answers 413 itself once a body (declared or streamed) passes this size.
        MAX_CONTENT_LENGTH=settings.webhook_max_bytes,
        SOCIALBRIDGE_SETTINGS=settings,
    )
    celery = make_celery(settings, services=services)
    app.extensions["celery"] = celery
    app.extensions["socialbridge"] = celery.services
    # The receiver's enqueue: one Redis round trip per event instead of send_task's several,
    # and one per batch of webhooks that arrive together, recorded in one commit.
    publisher = TaskPublisher(celery)
    app.extensions["task_publisher"] = publisher
    app.extensions["group_commit"] = GroupCommit(celery.services.store, publisher)

    app.session_interface = ReceiverSessions()
    # In this order: the CSRF check runs before the sign-in check, on every request.
    security.init_app(app, settings)
    auth.init_app(app, settings)
    app.register_blueprint(webhooks.bp)
    ghl_webhooks.init_app(app, settings)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(health.bp)
    metrics.init_app(app)
    app.register_blueprint(ui.bp)
    app.register_blueprint(events.bp)
    formatting.init_app(app)
    app.register_blueprint(users.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(analytics.bp)
    app.register_blueprint(analytics_api.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api_connections.bp)
    app.register_blueprint(api_mappings.bp)
    app.register_blueprint(mappings.bp)
    app.register_blueprint(connections.bp)
    errors.register(app)
    return app


class ReceiverSessions(SecureCookieSessionInterface):
    """Flask's cookie sessions, but none for the webhook receivers (`/webhooks/…`).

    CRMs and GHL call those without cookies, and no receiver reads a session; opening one
    (building the signing serializer from SECRET_KEY) is work on every webhook for nothing.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith("/webhooks/"):
            # Flask answers a request without a session with its null session.
            return None
        return super().open_session(app, request)
