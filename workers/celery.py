"""Entry point for `celery -A workers worker|beat|flower`: the app built from the environment.

A worker's `--pool` / `--concurrency` on the command line win over WORKER_POOL /
WORKER_CONCURRENCY (workers/worker_options.py says why they must be read here).
"""

from __future__ import annotations

import sys

from socialbridge.config import Settings
from socialbridge.logs import configure
from workers.celery_app import make_celery
from workers.worker_options import command_line_overrides

settings = Settings.from_env()
overrides = command_line_overrides(sys.argv)
if overrides:
    settings = settings.replace(**overrides)
configure(settings.log_level, settings.log_format)
app = make_celery(settings)
