"""One location's burst: 1,000 `post.published` (no `ghl_post_id`), GHL answering in 100 ms.

    .venv/bin/python -m bench.one_location [--events 1000] [--json FILE|-]

The stack as the Procfile runs it (one web, one worker; `bench.scenario`), GHL's limit of 100
requests per 10 s in force. Each event needs the location's tag list (250 tags: three pages);
a bridge that lists them once per TTL, coalesced, makes about 3 GHL calls for the whole burst.

Figures: seconds from the first send (intake included) until every event is written back to
the CRM (goal <= 10 s), GHL calls made (goal <= 10), GHL 429 answers (goal 0).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.scenario import (
    Figure,
    at_most,
    commands_of,
    finish,
    outcome_figures,
    parser_for,
    post_published,
    scenario_stack,
    start,
)

GHL_LATENCY_MS = 100
EVENTS = 1000


def main(argv: list[str] | None = None) -> int:
    args = parser_for("one_location", __doc__.split("\n")[0], events=EVENTS).parse_args(argv)
    info = start(f"{args.events} post.published for one location, GHL {GHL_LATENCY_MS} ms")
    with (
        tempfile.TemporaryDirectory(prefix="socialbridge-bench-") as tmp,
        scenario_stack(Path(tmp), ghl_latency_ms=GHL_LATENCY_MS) as run,
    ):
        connection = run.add_location("burst")
        requests = [post_published(connection, i) for i in range(1, args.events + 1)]
        m = run.measure(requests, senders=args.senders, timeout=args.timeout)
        calls = run.ghl_counts()
        commands = commands_of(run)
    figures = [
        at_most("first send -> all written back", m.wall_s, 10, "s"),
        at_most("GHL calls", calls["total"], 10, ""),
        at_most("GHL 429s", calls["rate_limited"], 0, ""),
        Figure("intake (all 202s)", m.intake_s, "s"),
        *outcome_figures(m),
    ]
    details = {**m.details(), "ghl_calls": calls}
    settings = {
        "events": args.events,
        "ghl_latency_ms": GHL_LATENCY_MS,
        "senders": args.senders,
        **commands,
    }
    return finish("one_location", info, settings, figures, details, args.json, cpu=m.cpu_table())


if __name__ == "__main__":
    sys.exit(main())
