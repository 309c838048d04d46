"""The producers' Prometheus metrics, created once per process (or per registry in tests).

Children with fixed labels are bound up front, so the hot path pays an attribute lookup and an ``inc``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from producers.kucoin.sequencing import Outcome
from producers.kucoin.topics import Stream

__all__ = ["ProducerMetrics", "serve_metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ProducerMetrics:
    """Every metric the producers export."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.frames_in = Counter("kucoin_frames_in", "WebSocket frames received, by stream", ["stream"], registry=r)
        self.sequence_outcomes = Counter(
            "kucoin_sequence_outcomes",
            "Market data frames by sequence rule outcome (accepted, repeat_suppressed, duplicate, regression...)",
            ["stream", "outcome"],
            registry=r,
        )
        self.records_produced = Counter(
            "kucoin_records_produced", "Records handed to Kafka, by topic", ["topic"], registry=r
        )
        self.records_acked = Counter("kucoin_records_acked", "Records acknowledged by Kafka", registry=r)
        self.delivery_errors = Counter("kucoin_delivery_errors", "Records Kafka refused for good", registry=r)
        self.dead_letters = Counter(
            "kucoin_dead_letters", "Inputs sent to the dead-letter topic, by reason kind", ["kind"], registry=r
        )
        self.reconnects = Counter("kucoin_reconnects", "WebSocket reconnects, by reason kind", ["kind"], registry=r)
        self.rotations = Counter("kucoin_token_rotations", "Connections replaced before token expiry", registry=r)
        self.silent_topics = Counter(
            "kucoin_silent_topics", "Watchdog reports of acked topics that deliver nothing", registry=r
        )
        self.rest_calls = Counter(
            "kucoin_rest_calls", "REST calls, by endpoint and status", ["path", "status"], registry=r
        )
        self.exchange_to_receive = Histogram(
            "kucoin_exchange_to_receive_seconds",
            "Exchange event time to receive time (includes clock offset)",
            ["stream"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.receive_to_ack = Histogram(
            "kucoin_receive_to_ack_seconds",
            "Hand-over to Kafka until the broker acknowledged the record",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("kucoin_producer_queue_depth", "Records in the in-memory Kafka queue", registry=r)
        self.spill_depth = Gauge("kucoin_producer_spill_depth", "Records waiting in the on-disk spill", registry=r)
        self.connections = Gauge("kucoin_ws_connections", "Open WebSocket connections", registry=r)
        self.symbols = Gauge("kucoin_symbols", "Symbols subscribed", registry=r)
        self.frames_by_stream = {stream: self.frames_in.labels(stream.value) for stream in Stream}
        self.outcomes = {
            (stream, outcome): self.sequence_outcomes.labels(stream.value, outcome.value)
            for stream in Stream
            for outcome in Outcome
        }
        self.latency_by_stream = {stream: self.exchange_to_receive.labels(stream.value) for stream in Stream}


def serve_metrics(metrics: ProducerMetrics, port: int, host: str = "0.0.0.0") -> None:
    """Expose ``/metrics`` on ``port`` (0 disables it)."""
    if port:
        start_http_server(port, addr=host, registry=metrics.registry)
