"""The lock-free hot-path metrics export exactly what prometheus_client's own counters and histograms would."""

from __future__ import annotations

import random
import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from producers.metrics import ProducerMetrics, TallyCounter, TallyHistogram

BUCKETS = (0.001, 0.0025, 0.05, 1.0, 30.0)


def _without_created_times(registry: CollectorRegistry) -> str:
    return re.sub(r"(_created(\{[^}]*\})?) \S+", r"\1 T", generate_latest(registry).decode())


def test_tallies_expose_the_same_samples_as_prometheus_client() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    counters = (
        TallyCounter("a_frames", "A.", ["stream"], registry=ours),
        Counter("a_frames", "A.", ["stream"], registry=theirs),
    )
    plain = (TallyCounter("a_acked", "B.", registry=ours), Counter("a_acked", "B.", registry=theirs))
    labelled = (
        TallyHistogram("a_seconds", "C.", ["stream"], buckets=BUCKETS, registry=ours),
        Histogram("a_seconds", "C.", ["stream"], buckets=BUCKETS, registry=theirs),
    )
    single = (
        TallyHistogram("b_seconds", "D.", buckets=BUCKETS, registry=ours),
        Histogram("b_seconds", "D.", buckets=BUCKETS, registry=theirs),
    )
    assert _without_created_times(ours) == _without_created_times(theirs)
    rng = random.Random(3)
    for _ in range(2000):
        stream = rng.choice(["x", "y"])
        value = rng.choice([*BUCKETS, 0.0, -0.5, 31.0, rng.uniform(-1, 40)])
        for counter in counters:
            counter.labels(stream).inc()
        for counter in plain:
            counter.inc(2)
        for histogram in labelled:
            histogram.labels(stream).observe(value)
        for histogram in single:
            histogram.observe(value)
    assert _without_created_times(ours) == _without_created_times(theirs)
    assert ours.get_sample_value("a_frames_total", {"stream": "x"}) == theirs.get_sample_value(
        "a_frames_total", {"stream": "x"}
    )


def test_every_producer_metric_is_exported_from_the_start() -> None:
    metrics = ProducerMetrics()
    page = generate_latest(metrics.registry).decode()
    for sample in (
        'kucoin_frames_in_total{stream="tickerV2"} 0.0',
        'kucoin_sequence_outcomes_total{outcome="accepted",stream="level2Depth50"} 0.0',
        "kucoin_records_acked_total 0.0",
        'kucoin_exchange_to_receive_seconds_bucket{le="+Inf",stream="tickerV2"} 0.0',
        'kucoin_receive_to_ack_seconds_bucket{le="0.001"} 0.0',
        "kucoin_receive_to_ack_seconds_count 0.0",
    ):
        assert sample in page
