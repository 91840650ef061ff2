"""Template filters for times and ages: one spelling of a moment on every console page."""

from __future__ import annotations

import datetime as dt

from flask import Flask


def utc(moment: dt.datetime | None) -> str:
    """``2026-11-23 10:00:00 UTC``, or an empty string for no moment."""
    if moment is None:
        return ""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def age(seconds: float | None) -> str:
    """``45 s``, ``3 min``, ``2 h 5 min``, ``3 d 4 h``: short enough for a table cell."""
    if seconds is None:
        return ""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, _ = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def duration(span: dt.timedelta | None) -> str:
    """How long an attempt took: ``35 ms``, ``4.2 s``, then as `age` (``3 min``); empty for
    none (still running)."""
    if span is None:
        return ""
    seconds = span.total_seconds()
    if seconds < 1:
        return f"{max(seconds, 0) * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return age(seconds)


def init_app(app: Flask) -> None:
    app.add_template_filter(utc, "utc")
    app.add_template_filter(age, "age")
    app.add_template_filter(duration, "duration")
