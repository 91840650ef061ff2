"""Entry point for `celery -A workers worker|beat|flower`: the app built from the environment."""

from __future__ import annotations

from socialbridge.config import Settings
from socialbridge.logs import configure
from workers.celery_app import make_celery

settings = Settings.from_env()
configure(settings.log_level, settings.log_format)
app = make_celery(settings)
