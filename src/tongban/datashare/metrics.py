"""Prometheus metrics of data sharing: calls by side, resource, consumer and outcome, their
latency, and (read at scrape time) the open disputes and data-quality flags per resource."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CALLS = Counter(
    "tongban_datashare_calls",
    "Data-sharing calls logged on this node, by side, resource (<node>.<key>), consuming "
    "department, outcome and refusal code.",
    ["side", "resource", "consumer", "outcome", "code"],
)
LATENCY = Histogram(
    "tongban_datashare_call_seconds",
    "Time from a data-sharing call's arrival (or, as consumer, its sending) to its answer.",
    ["side", "resource"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def observe_call(call: Any) -> None:
    resource = f"{call.provider_node}.{call.resource_key}"
    CALLS.labels(
        side=call.side,
        resource=resource,
        consumer=call.consumer_department_key,
        outcome=call.outcome,
        code=call.code,
    ).inc()
    LATENCY.labels(side=call.side, resource=resource).observe(call.latency_ms / 1000)


class DisputeCollector(Collector):
    """Open disputes per resource and kind, from the database at scrape time (quality flags
    are the kinds in ``models.QUALITY_KINDS``)."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("tongban_datashare_open_disputes", "", labels=["resource", "kind"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db import DatabaseError
        from django.db.models import Count

        from tongban.datashare.models import Dispute, DisputeState

        gauge = GaugeMetricFamily(
            "tongban_datashare_open_disputes",
            "Open data-sharing disputes on this node, by resource and kind.",
            labels=["resource", "kind"],
        )
        try:
            rows = (
                Dispute.objects.filter(state=DisputeState.OPEN)
                .values_list("call__provider_node", "call__resource_key", "kind")
                .annotate(n=Count("id"))
                .order_by()
            )
            for node, key, kind, count in rows:
                gauge.add_metric([f"{node}.{key}", kind], count)
        except DatabaseError:
            pass
        yield gauge


_collector = DisputeCollector()


def register_collectors() -> None:
    if _collector not in REGISTRY._collector_to_names:
        REGISTRY.register(_collector)
