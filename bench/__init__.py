"""Benchmarks of socialbridge on real parts, on this machine (see docs/benchmarks.md).

    .venv/bin/python -m bench.receiver      webhook intake: throughput and latency
    .venv/bin/python -m bench.end_to_end    the three flows, webhook to write-back
    .venv/bin/python -m bench.event_cpu     worker CPU per event of each flow (--flow), in process
    .venv/bin/python -m bench.one_location  1,000 post.published for one location, GHL 100 ms
    .venv/bin/python -m bench.posts_by_id   600 GHL posts read by id: the pace at GHL's limit
    .venv/bin/python -m bench.mixed_locations  20 locations x 50 events, GHL 150 ms, CRM 80 ms

The last three (`bench.scenario`) run the Procfile's web and worker lines, print each figure
beside its goal, and take `--events N` to scale down and `--json FILE|-`.

Each script starts everything it needs (embedded Redis, SQLite, the sandboxes, gunicorn,
Celery workers; `event_cpu` runs the worker's task in its own process) in a temporary folder,
talks to 127.0.0.1 only, and stops it all again.
"""
