"""`GET /metrics`: the store's counts and every process's recorded counters, for Prometheus.

A prometheus_client collector on a registry of its own (the global one would carry the
process's Python and GC metrics and whatever a library registers there), asked at each scrape:

- from the store: events by type and status, connections by status, the age of the `queued`
  event queued longest ago;
- from Redis: the depth of the Celery queue, and the hash ``socialbridge:metrics`` into which
  every process flushes what it recorded (`socialbridge.metrics`): GHL requests by endpoint and
  status, rate-limiter waits and deferrals, tag-cache lookups, seconds from 202 to done.

The route is open like `/healthz` (no credentials, nothing secret in it); docs/operations.md,
"Metrics", lists every series and the alerts worth setting. When Redis does not answer, the
series read from it are left out (a warning) and the store's are still served; a store outage
is the usual 503.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

import redis
from flask import Blueprint, Flask, Response, current_app
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from socialbridge import metrics as recorded
from socialbridge.logs import get_logger
from store import EventStatus, Store
from workers import tag_cache
from workers.celery_app import QUEUE
from workers.dispatch import TASK_FOR_EVENT

log = get_logger(__name__)

bp = Blueprint("metrics", __name__)

PREFIX = "socialbridge_"
REGISTRY_KEY = "metrics_registry"

# Shown at zero before the first lookup, so that a ratio of them is defined from the start.
TAG_CACHE_OUTCOMES = (
    tag_cache.OUTCOME_HIT,
    tag_cache.OUTCOME_SHARED,
    tag_cache.OUTCOME_MISS,
    tag_cache.OUTCOME_REFRESH,
    tag_cache.OUTCOME_TIMEOUT,
    tag_cache.OUTCOME_UNAVAILABLE,
)

Series = dict[tuple[tuple[str, str], ...], float]


class BridgeCollector(Collector):
    """Reads the store and Redis at each `collect` (one scrape)."""

    def __init__(
        self,
        store: Callable[[], Store],
        client: Callable[[], redis.Redis[bytes]],
        *,
        key: str = recorded.HASH_KEY,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._store = store
        self._client = client
        self._key = key
        self._clock = clock

    def collect(self) -> Iterable[Metric]:
        yield from self._from_store(self._store())
        try:
            pipe = self._client().pipeline(transaction=False)
            pipe.hgetall(self._key)
            pipe.llen(QUEUE)
            raw, depth = pipe.execute()
        except redis.RedisError as exc:
            log.warning("metrics.redis_unavailable", error=type(exc).__name__)
            return
        yield _gauge("queue_depth", "Messages waiting on the Celery queue.", [], [([], depth)])
        yield from _from_hash(_parse(raw))

    def _from_store(self, store: Store) -> Iterator[Metric]:
        groups = store.event_groups()
        # Every known type and status at zero too: an alert on a series needs it to exist.
        types = sorted({*TASK_FOR_EVENT, *(type_ for type_, _ in groups)})
        statuses = [status.value for status in EventStatus]
        statuses += sorted({status for _, status in groups} - set(statuses))
        yield _gauge(
            "events",
            "Events in the log, by type and status.",
            ["type", "status"],
            [
                ([type_, status], groups.get((type_, status), 0))
                for type_ in types
                for status in statuses
            ],
        )
        yield _gauge(
            "connections",
            "Connections, by status.",
            ["status"],
            [([status], count) for status, count in store.count_connections_by_status().items()],
        )
        oldest = store.oldest_queued_since()
        age = max(0.0, (self._clock() - oldest).total_seconds()) if oldest is not None else 0.0
        yield _gauge(
            "oldest_queued_event_age_seconds",
            "Seconds since the event queued longest ago was queued (0: none is queued).",
            [],
            [([], age)],
        )


def _parse(raw: dict[bytes, bytes]) -> dict[str, Series]:
    """The hash as {metric: {labels: value}}; fields of another shape are skipped."""
    parsed: dict[str, Series] = defaultdict(dict)
    for name, value in raw.items():
        key = recorded.parse_field(name.decode(errors="replace"))
        if key is None:
            continue
        try:
            parsed[key[0]][key[1]] = float(value)
        except ValueError:
            continue
    return parsed


def _from_hash(series: dict[str, Series]) -> Iterator[Metric]:
    requests = series.get(recorded.GHL_REQUESTS, {})
    yield _counter(
        "ghl_requests",
        "GHL requests, by endpoint and HTTP status (error: no answer).",
        ["endpoint", "status"],
        [([labels.get("endpoint", ""), labels.get("status", "")], value)
         for labels, value in _labelled(requests)],
    )  # fmt: skip
    limited = sum(value for labels, value in _labelled(requests) if labels.get("status") == "429")
    yield _counter("ghl_rate_limited", "GHL answers 429 (Too Many Requests).", [], [([], limited)])
    for metric, text in (
        (recorded.GHL_LIMITER_WAITS, "GHL requests that waited in-process for a rate-limit slot."),
        (recorded.GHL_LIMITER_WAIT_SECONDS, "Seconds GHL requests waited for rate-limit slots."),
        (
            recorded.GHL_LIMITER_DEFERRALS,
            "Event runs ended because their rate-limit slot was too far to wait for.",
        ),
    ):
        yield _counter(metric, text, [], [([], series.get(metric, {}).get((), 0.0))])
    given_back = {labels.get("reason", ""): value for labels, value in
                  _labelled(series.get(recorded.GHL_LIMITER_SLOTS_GIVEN_BACK, {}))}  # fmt: skip
    yield _counter(
        recorded.GHL_LIMITER_SLOTS_GIVEN_BACK,
        "Rate-limit slots given back without a request, by reason (late, unused, 429).",
        ["reason"],
        [([reason], given_back.get(reason, 0.0))
         for reason in sorted({*recorded.SLOTS_GIVEN_BACK_REASONS, *given_back})],
    )  # fmt: skip
    lookups = {labels.get("outcome", ""): value for labels, value in
               _labelled(series.get(recorded.TAG_CACHE_LOOKUPS, {}))}  # fmt: skip
    outcomes = sorted({*TAG_CACHE_OUTCOMES, *lookups})
    yield _counter(
        recorded.TAG_CACHE_LOOKUPS,
        "Tag-cache lookups, by outcome (hit and shared: no GHL listing by this event).",
        ["outcome"],
        [([outcome], lookups.get(outcome, 0.0)) for outcome in outcomes],
    )
    yield _histogram(series, recorded.EVENT_DONE_SECONDS, "Seconds from the 202 to done.")


def _histogram(series: dict[str, Series], metric: str, text: str) -> Metric:
    bounds = (*recorded.HISTOGRAM_BUCKETS[metric], float("inf"))
    buckets: dict[tuple[tuple[str, str], ...], dict[str, float]] = defaultdict(dict)
    for labels, value in series.get(f"{metric}_bucket", {}).items():
        rest = tuple(pair for pair in labels if pair[0] != "le")
        le = dict(labels).get("le", "")
        buckets[rest][le] = buckets[rest].get(le, 0.0) + value
    sums = series.get(f"{metric}_sum", {})
    family = HistogramMetricFamily(PREFIX + metric, text, labels=["type"])
    for rest, counts in sorted(buckets.items()):
        cumulative, total = [], 0.0
        for bound in bounds:
            label = recorded.bucket_label(bound)
            total += counts.get(label, 0.0)
            cumulative.append((label, total))
        family.add_metric([dict(rest).get("type", "")], cumulative, sums.get(rest, 0.0))
    return family


def _labelled(series: Series) -> list[tuple[dict[str, str], float]]:
    return [(dict(labels), value) for labels, value in sorted(series.items())]


def _gauge(
    name: str, text: str, labels: list[str], samples: list[tuple[list[str], float]]
) -> Metric:
    family = GaugeMetricFamily(PREFIX + name, text, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _counter(
    name: str, text: str, labels: list[str], samples: list[tuple[list[str], float]]
) -> Metric:
    family = CounterMetricFamily(PREFIX + name, text, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def init_app(app: Flask) -> None:
    """The app's registry, with a collector on its store and Redis, and the route."""
    services = app.extensions["socialbridge"]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BridgeCollector(lambda: services.store, lambda: services.redis))
    app.extensions[REGISTRY_KEY] = registry
    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics() -> Response:
    """Every series, in the Prometheus text format 0.0.4."""
    registry: CollectorRegistry = current_app.extensions[REGISTRY_KEY]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
