"""Many locations at once: 20 locations x 50 events of every flow, GHL 150 ms, CRM 80 ms.

    .venv/bin/python -m bench.mixed_locations [--events 1000] [--locations 20] [--json FILE|-]

The stack as the Procfile runs it (one web, ONE worker process; `bench.scenario`), GHL's limit
of 100 requests per 10 s per location in force. Event `i` goes to location `i mod locations`
and takes the flows in turn, so every location gets each flow in equal parts:

    post.published            the location's tags (three pages of 100, once per TTL)
    post.published + post id  GET .../posts/{id}, then the tags as above
    tag.details_requested     POST .../tags/details (three tag ids)
    statistics.requested      GET .../accounts, POST /statistics

Figures: events per second from the first send until every event is written back (goal >= 100),
p50 and p99 from each event's 202 to its write-back stored in the CRM (goal p99 <= 2 s), GHL 429s.
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.scenario import (
    Figure,
    at_least,
    at_most,
    commands_of,
    finish,
    latency_summary,
    outcome_figures,
    parser_for,
    post_published,
    scenario_stack,
    seeded_post_id,
    start,
    statistics_requested,
    tag_details_requested,
)
from bench.stack import SignedRequest
from store import ConnectionRecord

GHL_LATENCY_MS = 150
CRM_LATENCY_MS = 80
LOCATIONS = 20
EVENTS = 1000
FLOWS = ("post.published", "post.published+ghl_post_id", "tag.details_requested",
         "statistics.requested")  # fmt: skip


def request_for(flow: str, connection: ConnectionRecord, serial: int, post: int) -> SignedRequest:
    """The signed event of `flow`; `post` is the seeded post a `+ghl_post_id` event names."""
    if flow == "post.published":
        return post_published(connection, serial)
    if flow == "post.published+ghl_post_id":
        return post_published(
            connection, serial, ghl_post_id=seeded_post_id(connection.location_id, post)
        )
    if flow == "tag.details_requested":
        return tag_details_requested(connection, serial)
    return statistics_requested(connection)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for("mixed_locations", __doc__.split("\n")[0], events=EVENTS)
    parser.add_argument(
        "--locations", type=int, default=LOCATIONS, help=f"GHL locations (default {LOCATIONS})"
    )
    args = parser.parse_args(argv)
    per_location = math.ceil(args.events / args.locations)
    info = start(
        f"{args.events} events over {args.locations} locations, every flow, "
        f"GHL {GHL_LATENCY_MS} ms, CRM {CRM_LATENCY_MS} ms, one worker process"
    )
    with (
        tempfile.TemporaryDirectory(prefix="socialbridge-bench-") as tmp,
        scenario_stack(
            Path(tmp), ghl_latency_ms=GHL_LATENCY_MS, crm_latency_ms=CRM_LATENCY_MS
        ) as run,
    ):
        connections = [
            run.add_location(f"mixed{i:02d}", posts=per_location) for i in range(args.locations)
        ]
        requests, flows = [], Counter[str]()
        for i in range(args.events):
            flow = FLOWS[(i // args.locations) % len(FLOWS)]
            flows[flow] += 1
            post = i // args.locations + 1  # this location's event number: a post of its own
            requests.append(request_for(flow, connections[i % args.locations], i + 1, post))
        m = run.measure(requests, senders=args.senders, timeout=args.timeout)
        calls = run.ghl_counts()
        commands = commands_of(run)
    wall = m.wall_s
    summary = latency_summary(m.to_writeback())
    figures = [
        at_least("events/s, first send -> all written back",
                 len(m.sent) / wall if wall else None, 100, "/s"),
        Figure("202 -> written back p50", summary["p50_s"], "s"),
        at_most("202 -> written back p99", summary["p99_s"], 2, "s"),
        at_most("GHL 429s", calls["rate_limited"], 0, ""),
        Figure("first send -> all written back", wall, "s"),
        Figure("intake (all 202s)", m.intake_s, "s"),
        Figure("GHL calls", calls["total"], ""),
        *outcome_figures(m),
    ]  # fmt: skip
    details = {
        **m.details(),
        "flows": dict(flows),
        "events_per_location": per_location,
        "ghl_calls": calls,
    }
    settings = {
        "events": args.events,
        "locations": args.locations,
        "ghl_latency_ms": GHL_LATENCY_MS,
        "crm_latency_ms": CRM_LATENCY_MS,
        "senders": args.senders,
        **commands,
    }
    return finish("mixed_locations", info, settings, figures, details, args.json, cpu=m.cpu_table())


if __name__ == "__main__":
    sys.exit(main())
