"""A topic's payloads to typed records, through the project's codec (a batch at a time: see
:mod:`schemas.fast_decode`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from processors.replay.merge import Record
from schemas.catalog import RecordSchema, subject_for
from schemas.codec import AvroCodec

__all__ = ["topic_decoder"]

_NO_ID = -1


def topic_decoder(
    client: SchemaRegistryClient, schema: RecordSchema, topic: str
) -> Callable[[Sequence[bytes]], list[Record]]:
    """Decode batches of ``topic``'s payloads (any registered writer version) into ``schema``'s record type.

    Read-only on the registry: the id of this exact schema under the topic's subject is looked up, not
    registered, so replaying never changes a subject. Payloads written with it decode without resolution.
    """
    try:
        schema_id = client.lookup_schema(subject_for(topic), Schema(schema.text, "AVRO")).schema_id
    except SchemaRegistryError:
        schema_id = _NO_ID
    codec: AvroCodec[Any] = AvroCodec(
        schema, schema_id if schema_id is not None else _NO_ID, lambda sid: client.get_schema(sid).schema_str or ""
    )
    return codec.decode_many
