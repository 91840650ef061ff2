"""The Celery application factory: one place for every reliability setting of the design."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown

from socialbridge import metrics
from socialbridge.config import Settings
from workers.services import Services

QUEUE = "socialbridge"
# kombu's Redis transport and Celery's prefork pool, each with a fix for a crash of the worker
# on a Redis restart (the modules say which). The transport only for redis:// URLs: kombu
# turns TLS on for rediss:// by the transport's name, which naming ours would lose.
REDIS_TRANSPORT = "workers.redis_transport:RedisTransport"
PREFORK_POOL = "workers.prefork_pool:PreforkPool"
# WORKER_POOL's names to the pool Celery loads.
POOLS = {"threads": "threads", "prefork": PREFORK_POOL}


def make_celery(settings: Settings, *, services: Services | None = None) -> Celery:
    """Build the Celery app for these settings.

    Its tasks reach their dependencies through `app.services`.
    """
    app = Celery("socialbridge", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.services = services or Services(settings)
    # What this process records (GHL answers, waits, tag-cache lookups, events done) is added
    # up in this Redis for /metrics.
    metrics.bind(settings.redis_url)
    # Importing the task modules registers the shared tasks with every app.
    import workers.app_webhooks
    import workers.schedules
    import workers.sweeper
    import workers.tasks
    import workers.token_refresh  # noqa: F401

    return app


def _flush_metrics(**_: Any) -> None:
    # A prefork pool process ends with os._exit, past atexit: flush what it recorded here.
    metrics.RECORDER.stop()


worker_process_shutdown.connect(_flush_metrics, weak=False)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings; each one answers a reliability rule of the design."""
    return {
        "broker_url": settings.redis_url,
        "broker_transport": REDIS_TRANSPORT if settings.redis_url.startswith("redis://") else None,
        "broker_connection_retry_on_startup": True,
        # A worker that lost Redis reconnects for as long as it takes (Celery's default gives
        # up after 100 tries, about 45 minutes, and the worker exits); so does beat's producer.
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
        # Redis gives a message that a worker took and never acknowledged (the worker died)
        # to another one after the visibility timeout; kombu looks for such messages every
        # `unacked_restore_interval` seconds (every scan: throttle 1). No countdown outlives
        # it: retries wait in the store (workers/sweeper.py), not in a worker.
        "broker_transport_options": {
            "visibility_timeout": settings.broker_visibility_timeout,
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 3,
            "socket_timeout": 10,
        },
        # The receiver answers 503 quickly instead of hanging when Redis is down.
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 1.0,
        },
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_default_queue": QUEUE,
        # At least once: ack after the work, requeue when the worker process dies mid-task,
        # and take one message at a time so a dying worker strands at most one.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # Threads by default: an event waits on GHL and the CRM far longer than it computes.
        # WORKER_CONCURRENCY 0 is the pool's own default (Settings.worker_slots).
        "worker_pool": POOLS[settings.worker_pool],
        "worker_concurrency": settings.worker_slots,
        # Enforced by the prefork pool only; Celery's threads pool cannot stop a thread and
        # ignores both. There the attempt's lease stops at TASK_TIME_LIMIT instead, and a
        # late attempt may neither write back nor record its outcome (workers/lease.py).
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_soft_shutdown_timeout": 10.0,
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "enable_utc": True,
        "timezone": "UTC",
        # Beat keeps its schedule in Redis (RedBeat) so several beat processes can run safely:
        # only the one holding the lock sends. Ours survives a Redis restart (workers/beat.py).
        "beat_scheduler": "workers.beat.ResilientRedBeatScheduler",
        "redbeat_redis_url": settings.redis_url,
        # Plain redis-py client arguments: RedBeat stops borrowing the broker's options in 2.5.
        "redbeat_redis_options": {"socket_connect_timeout": 3, "socket_timeout": 10},
        "redbeat_key_prefix": "socialbridge:redbeat:",
        "redbeat_lock_timeout": 60,
        "beat_max_loop_interval": 5,
        "beat_schedule": {
            "reconcile-statistics-schedules": {
                "task": "schedules.reconcile",
                "schedule": 60.0,
                "options": {"expires": 55},
            },
            # OAuth access tokens refreshed GHL_TOKEN_REFRESH_MARGIN ahead of their expiry.
            "refresh-ghl-tokens": {
                "task": "tokens.refresh_due",
                "schedule": 60.0,
                "options": {"expires": 55},
            },
        },
    }
