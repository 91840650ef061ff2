"""A location's posts read one by one: 600 `post.published` with `ghl_post_id`, GHL 100 ms.

    .venv/bin/python -m bench.posts_by_id [--events 600] [--json FILE|-]

The stack as the Procfile runs it (one web, one worker; `bench.scenario`), GHL's limit of 100
requests per 10 s per location in force. The location is seeded with one post per event, and
each event names its own (`GET .../posts/{id}`): the burst needs `events` post reads plus one
listing of the location's tags (three pages of 100), so GHL's limit, not the bridge, sets the
pace: at best 10 calls a second.

Figures: `posts/{id}` calls answered per second in every whole 10 s window after the first
(goal >= 9.5/s in each, against the 10/s allowed; the first window holds the start-up and the
last, partial one is left out), GHL 429 answers (goal 0), and every GHL call made against the
calls the events need (goal <= 1.05 x: no listing of the tags again per event). Needs at least
about 200 events for one whole window after the first.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

from bench.scenario import (
    Figure,
    at_least,
    at_most,
    commands_of,
    finish,
    outcome_figures,
    parser_for,
    post_published,
    rate_windows,
    scenario_stack,
    seeded_post_id,
    start,
)
from sandbox.ghl.app import TAGS_MAX_LIMIT
from sandbox.ghl.seed import DEFAULT_TAG_COUNT

GHL_LATENCY_MS = 100
EVENTS = 600
TAG_PAGES = math.ceil(DEFAULT_TAG_COUNT / TAGS_MAX_LIMIT)


def main(argv: list[str] | None = None) -> int:
    args = parser_for("posts_by_id", __doc__.split("\n")[0], events=EVENTS).parse_args(argv)
    info = start(
        f"{args.events} post.published with ghl_post_id for one location, GHL {GHL_LATENCY_MS} ms"
    )
    with (
        tempfile.TemporaryDirectory(prefix="socialbridge-bench-") as tmp,
        scenario_stack(Path(tmp), ghl_latency_ms=GHL_LATENCY_MS) as run,
    ):
        connection = run.add_location("posts", posts=args.events)
        requests = [
            post_published(connection, i, ghl_post_id=seeded_post_id(connection.location_id, i))
            for i in range(1, args.events + 1)
        ]
        m = run.measure(requests, senders=args.senders, timeout=args.timeout)
        calls = run.ghl_counts()
        commands = commands_of(run)
        post_times = run.ghl_call_times("/posts/")
    windows = rate_windows(post_times)
    needed = args.events + TAG_PAGES
    figures = [
        at_least("posts/{id} calls/s, slowest whole 10 s window after the first",
                 min(windows) if windows else None, 9.5, "/s"),
        at_most("GHL 429s", calls["rate_limited"], 0, ""),
        at_most("GHL calls / calls needed", calls["total"] / needed, 1.05, "x"),
        Figure("whole 10 s windows after the first", len(windows), ""),
        Figure("GHL calls", calls["total"], f"(needed {needed:,})"),
        Figure("first send -> all written back", m.wall_s, "s"),
        *outcome_figures(m),
    ]  # fmt: skip
    details = {
        **m.details(),
        "posts_per_s_by_window": windows,
        "posts_calls_ok": len(post_times),
        "calls_needed": needed,
        "ghl_calls": calls,
    }
    if windows:
        print("posts/{id} calls/s by 10 s window after the first: "
              + ", ".join(f"{rate:.1f}" for rate in windows))  # fmt: skip
    settings = {
        "events": args.events,
        "ghl_latency_ms": GHL_LATENCY_MS,
        "senders": args.senders,
        **commands,
    }
    return finish("posts_by_id", info, settings, figures, details, args.json, cpu=m.cpu_table())


if __name__ == "__main__":
    sys.exit(main())
