"""Prometheus metrics. Request metrics are recorded by middleware; node-level gauges (database
reachable, background tasks by status) are read at scrape time.

Under ``tongban serve`` several server processes share one ``PROMETHEUS_MULTIPROC_DIR``, and a
scrape aggregates them all; without it (tests, a single process) the default registry serves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

HTTP_REQUESTS = Counter(
    "tongban_http_requests",
    "HTTP requests served, by method, route pattern and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "tongban_http_request_duration_seconds",
    "Time to serve an HTTP request, by method and route pattern.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class NodeCollector(Collector):
    """Gauges computed from the database when scraped; a scrape never fails on a database
    outage, it reports ``tongban_database_up 0`` instead."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Without describe() the registry calls collect() at registration, i.e. it would query
        # the database while Django is still starting.
        yield GaugeMetricFamily("tongban_build_info", "", labels=["version", "node"])
        yield GaugeMetricFamily("tongban_database_up", "")
        yield GaugeMetricFamily("tongban_background_tasks", "", labels=["status"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.conf import settings
        from django.db import DatabaseError, connection

        import tongban

        info = GaugeMetricFamily(
            "tongban_build_info", "Version and node code of this node.", labels=["version", "node"]
        )
        info.add_metric([tongban.__version__, settings.TONGBAN_NODE_CODE], 1)
        yield info

        up = GaugeMetricFamily("tongban_database_up", "1 if the database answered the scrape.")
        tasks = GaugeMetricFamily(
            "tongban_background_tasks", "Background tasks by status.", labels=["status"]
        )
        try:
            from django.db.models import Count
            from django_tasks_db.models import DBTaskResult

            rows = DBTaskResult.objects.values_list("status").annotate(n=Count("id")).order_by()
            for status, count in rows:
                tasks.add_metric([str(status)], count)
            up.add_metric([], 1)
        except DatabaseError:
            connection.close_if_unusable_or_obsolete()
            up.add_metric([], 0)
        yield up
        yield tasks


_node_collector = NodeCollector()


def register_collectors() -> None:
    if _node_collector not in REGISTRY._collector_to_names:
        REGISTRY.register(_node_collector)


def observe_request(*, method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_DURATION.labels(method=method, route=route).observe(seconds)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(_node_collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
