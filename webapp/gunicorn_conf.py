"""gunicorn's settings for the web process, loaded by the Procfile's `web` line and `make run`.

    gunicorn --config python:webapp.gunicorn_conf --bind 0.0.0.0:$PORT 'webapp:create_app()'

Threaded workers with keep-alive: a request of the receiver mostly waits on the database and
Redis, so threads let one process answer several CRMs at once, and a CRM (or a proxy) that
keeps its connection open does not pay a TCP handshake per webhook. gunicorn's default `sync`
worker answers one request at a time and closes every connection; docs/benchmarks.md has both.

A deployment changes these without editing the file, on the command line or in
``GUNICORN_CMD_ARGS`` (gunicorn reads both after this file), e.g.
``GUNICORN_CMD_ARGS="--workers 4"`` on a machine with more cores.
"""

# One process per core of the 2-core machines the benchmarks ran on: Python runs one thread
# at a time per process, so more processes than cores only trade CPU for context switches.
workers = 2
worker_class = "gthread"
# Threads per process: enough to overlap the waits on SQLite/PostgreSQL and Redis of a few
# concurrent requests; more only queue up behind the same interpreter lock.
threads = 4
# Seconds an idle keep-alive connection stays open. Above the 2 s default so that a CRM
# sending a burst keeps its connection; below the 60 s idle timeout of common load balancers,
# so that they, not gunicorn, close an idle connection (no request races a server-side close).
keepalive = 5
# gunicorn 24+ opens a control socket under $HOME by default; nothing here uses it, and
# several web processes on one machine would fight over the same path.
control_socket_disable = True
