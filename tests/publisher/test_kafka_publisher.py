"""The publisher against a real broker: order, exactly-once across an outage longer than memory, and restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ops.stack.local import Endpoints
from producers.publisher.kafka import KafkaPublisher, PublisherConfig
from tests.support.kafka import create_topics, read_all, unique_name
from tests.support.private_kafka import private_kafka

pytestmark = pytest.mark.integration


def _value_and_timestamp(msg: Any) -> tuple[bytes, bytes, int]:
    return bytes(msg.key()), bytes(msg.value()), int(msg.timestamp()[1])


def _expected(n: int, start: int = 0) -> list[tuple[bytes, bytes, int]]:
    return [
        (b"XBTUSDTM", f"record-{i:06d}".encode() + b"." * 200, 1_700_000_000_000 + i) for i in range(start, start + n)
    ]


def _publish(publisher: KafkaPublisher, topic: str, records: list[tuple[bytes, bytes, int]]) -> None:
    for key, value, timestamp in records:
        publisher.publish(topic, key, value, timestamp)
        publisher.service()


def test_records_arrive_once_in_order_with_the_exchange_timestamp(services: Endpoints, tmp_path: Path) -> None:
    topic = unique_name("publisher-order")
    create_topics(services.bootstrap_servers, [topic], partitions=3)
    publisher = KafkaPublisher(PublisherConfig(services.bootstrap_servers), tmp_path / "spill")
    records = _expected(5_000)
    _publish(publisher, topic, records)
    assert publisher.close(30) == 0
    assert read_all(services.bootstrap_servers, topic, decode=_value_and_timestamp) == records
    assert publisher.stats.acknowledged == 5_000 and publisher.stats.delivery_errors == 0


@pytest.mark.slow
def test_an_outage_longer_than_the_memory_budget_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    with private_kafka(tmp_path) as kafka:
        topic = unique_name("publisher-outage")
        create_topics(kafka.bootstrap_servers, [topic])
        config = PublisherConfig(kafka.bootstrap_servers, memory_budget_kb=256)
        publisher = KafkaPublisher(config, tmp_path / "spill")
        before, during, after = _expected(1_000), _expected(6_000, 1_000), _expected(1_000, 7_000)
        _publish(publisher, topic, before)
        assert publisher.flush(30)

        kafka.stop()
        _publish(publisher, topic, during)
        assert publisher.spilled > 0, "the outage should have overflowed the 256 KiB memory budget to disk"
        kafka.start()
        _publish(publisher, topic, after)
        assert publisher.close(60) == 0
        assert read_all(kafka.bootstrap_servers, topic, decode=_value_and_timestamp) == before + during + after


@pytest.mark.slow
def test_records_the_broker_never_took_wait_on_disk_for_the_next_start(tmp_path: Path) -> None:
    with private_kafka(tmp_path) as kafka:
        topic = unique_name("publisher-restart")
        create_topics(kafka.bootstrap_servers, [topic])
        config = PublisherConfig(kafka.bootstrap_servers, memory_budget_kb=256)
        first = KafkaPublisher(config, tmp_path / "spill")
        early, stranded, later = _expected(500), _expected(3_000, 500), _expected(500, 3_500)
        _publish(first, topic, early)
        assert first.flush(30)
        kafka.stop()
        _publish(first, topic, stranded)
        left = first.close(2)
        assert left > 0, "with the broker down, close must keep what it could not deliver"

        kafka.start()
        second = KafkaPublisher(config, tmp_path / "spill")
        assert second.spilled == left
        _publish(second, topic, later)
        assert second.close(60) == 0
        assert read_all(kafka.bootstrap_servers, topic, decode=_value_and_timestamp) == early + stranded + later
