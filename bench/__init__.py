"""Benchmarks of socialbridge on real parts, on this machine (see docs/benchmarks.md).

    .venv/bin/python -m bench.receiver      webhook intake: throughput and latency
    .venv/bin/python -m bench.end_to_end    the three flows, webhook to write-back
    .venv/bin/python -m bench.event_cpu     worker CPU per cached post.published, in process

Each script starts everything it needs (embedded Redis, SQLite, the sandboxes, gunicorn,
Celery workers; `event_cpu` runs the worker's task in its own process) in a temporary folder,
talks to 127.0.0.1 only, and stops it all again.
"""
