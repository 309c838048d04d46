"""Prometheus metrics of a processing worker, read from plain counters at scrape time.

The hot path only adds to integers (a labelled prometheus counter per event would cost more than the event);
a collector turns them into samples when Prometheus scrapes. Commit latency is a real histogram: commits are few.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["WorkerStats", "serve"]

_COMMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class WorkerStats:
    """What a worker counts (plain numbers, updated by the worker; the collector reads them)."""

    job: str
    events_in: int = 0
    events_out: dict[str, int] = field(default_factory=dict)
    lag: dict[int, int] = field(default_factory=dict)
    late_events: int = 0
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.commit_seconds = Histogram(
            "kucoin_processor_commit_seconds",
            "Duration of a checkpoint (changelog, flush, offsets, commit).",
            ["job"],
            buckets=_COMMIT_BUCKETS,
            registry=self.registry,
        ).labels(self.job)
        self.registry.register(_Collector(self))


class _Collector(Collector):
    def __init__(self, stats: WorkerStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self._stats
        job = stats.job
        events_in = CounterMetricFamily("kucoin_processor_events_in", "Input records processed.", labels=["job"])
        events_in.add_metric([job], stats.events_in)
        yield events_in
        events_out = CounterMetricFamily(
            "kucoin_processor_events_out", "Derived records sent, by topic.", labels=["job", "topic"]
        )
        for topic, count in sorted(stats.events_out.items()):
            events_out.add_metric([job, topic], count)
        yield events_out
        late = CounterMetricFamily(
            "kucoin_processor_late_events", "Inputs refused as late or duplicate (LateEvent records).", labels=["job"]
        )
        late.add_metric([job], stats.late_events)
        yield late
        lag = GaugeMetricFamily(
            "kucoin_processor_lag", "Input records not yet processed, by partition.", labels=["job", "partition"]
        )
        for partition, value in sorted(stats.lag.items()):
            lag.add_metric([job, str(partition)], value)
        yield lag


def serve(stats: WorkerStats, port: int, host: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` on ``port`` from a daemon thread."""
    start_http_server(port, addr=host, registry=stats.registry)
