"""Smoke tests proving the stack is the real thing: transactions, idempotence, and a Confluent-API registry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from ops.stack.local import Endpoints
from schemas.registry import registry_client
from tests.support.kafka import read_all, unique_name

pytestmark = pytest.mark.integration


def _delivered(producer: Producer) -> None:
    assert producer.flush(30) == 0, "records left undelivered"


def test_read_committed_sees_only_the_committed_transaction(services: Endpoints, new_topic: Any) -> None:
    topic = new_topic()
    producer = Producer({"bootstrap.servers": services.bootstrap_servers, "transactional.id": unique_name("smoke-tx")})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, key=b"XBTUSDTM", value=f"committed-{i}".encode())
    producer.commit_transaction(30)
    producer.begin_transaction()
    for i in range(2):
        producer.produce(topic, key=b"XBTUSDTM", value=f"aborted-{i}".encode())
    producer.flush(30)
    producer.abort_transaction(30)

    def value(msg: Any) -> str:
        return bytes(msg.value()).decode()

    committed = read_all(services.bootstrap_servers, topic, "read_committed", value)
    everything = read_all(services.bootstrap_servers, topic, "read_uncommitted", value)
    assert committed == ["committed-0", "committed-1", "committed-2"]
    assert everything == ["committed-0", "committed-1", "committed-2", "aborted-0", "aborted-1"]


def test_idempotent_producer_with_acks_all_delivers_in_order(services: Endpoints, new_topic: Any) -> None:
    topic = new_topic()
    producer = Producer(
        {
            "bootstrap.servers": services.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "max.in.flight.requests.per.connection": 5,
            "linger.ms": 5,
            "batch.num.messages": 50,
        }
    )
    sent = [str(i).encode() for i in range(2_000)]
    for payload in sent:
        producer.produce(topic, key=b"ETHUSDTM", value=payload)
    _delivered(producer)
    received = read_all(services.bootstrap_servers, topic, decode=lambda m: m.value())
    assert received == sent


TICK_V1 = {
    "type": "record",
    "name": "Tick",
    "namespace": "io.kucoinkafka.smoke",
    "fields": [{"name": "symbol", "type": "string"}, {"name": "price", "type": "string"}],
}
TICK_V2_COMPATIBLE = {
    **TICK_V1,
    "fields": [*TICK_V1["fields"], {"name": "size", "type": ["null", "string"], "default": None}],
}
TICK_V2_INCOMPATIBLE = {**TICK_V1, "fields": [*TICK_V1["fields"], {"name": "size", "type": "string"}]}


def test_avro_round_trip_through_a_real_topic_and_registry(services: Endpoints, new_topic: Any) -> None:
    topic = new_topic()
    registry = registry_client(services.schema_registry_url)
    serializer = AvroSerializer(registry, json.dumps(TICK_V1))
    deserializer = AvroDeserializer(registry)
    producer = Producer({"bootstrap.servers": services.bootstrap_servers, "enable.idempotence": True})
    value = {"symbol": "XBTUSDTM", "price": "88987.40"}
    payload = serializer(value, SerializationContext(topic, MessageField.VALUE))
    assert payload is not None and payload[0] == 0, "Confluent wire format starts with magic byte 0"
    producer.produce(topic, key=b"XBTUSDTM", value=payload)
    _delivered(producer)

    [raw] = read_all(services.bootstrap_servers, topic, decode=lambda m: m.value())
    schema_id = int.from_bytes(raw[1:5], "big")
    assert registry.get_schema(schema_id).schema_str is not None
    assert registry.get_latest_version(f"{topic}-value").schema_id == schema_id
    assert deserializer(raw, SerializationContext(topic, MessageField.VALUE)) == value


def test_backward_compatibility_refuses_an_incompatible_change(services: Endpoints) -> None:
    subject = unique_name("smoke-compat") + "-value"
    registry = registry_client(services.schema_registry_url)
    registry.register_schema(subject, Schema(json.dumps(TICK_V1), "AVRO"))
    registry.set_compatibility(subject, "BACKWARD")
    assert registry.get_compatibility(subject) == "BACKWARD"
    assert registry.test_compatibility(subject, Schema(json.dumps(TICK_V2_COMPATIBLE), "AVRO"))
    assert not registry.test_compatibility(subject, Schema(json.dumps(TICK_V2_INCOMPATIBLE), "AVRO"))
    registry.register_schema(subject, Schema(json.dumps(TICK_V2_COMPATIBLE), "AVRO"))
    with pytest.raises(SchemaRegistryError) as refused:
        registry.register_schema(subject, Schema(json.dumps(TICK_V2_INCOMPATIBLE), "AVRO"))
    assert refused.value.http_status_code == 409
    assert len(registry.get_versions(subject)) == 2
