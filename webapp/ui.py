"""The overview page (`/`) and the fragment of it that its script fetches to refresh itself.

The views read nothing themselves: `console.overview.build_overview` does, for the page
and the fragment alike.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from console.overview import STATUSES, Overview, build_overview
from webapp import context

bp = Blueprint("ui", __name__)

# How often the overview fetches its fragment again (static/overview.js reads it from the page).
REFRESH_SECONDS = 15


@bp.get("/")
def index() -> str:
    return render_template(
        "overview.html", overview=_overview(), statuses=STATUSES, refresh_seconds=REFRESH_SECONDS
    )


@bp.get("/overview")
def fragment() -> str:
    """The overview's content alone, without the page around it."""
    return render_template("overview_fragment.html", overview=_overview(), statuses=STATUSES)


def _overview() -> Overview:
    services = context.services()
    return build_overview(services.store, services.redis, services.ghl_limiter)
