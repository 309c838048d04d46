"""Every Avro schema of the pipeline, with its record type and default topic.

Subjects follow the TopicNameStrategy (``<topic>-value``); keys are the UTF-8 symbol, not Avro. Topic names are
defaults that every job lets the user override.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

from schemas import derived, records

__all__ = [
    "ALL_SCHEMAS",
    "DERIVED_SCHEMAS",
    "RAW_SCHEMAS",
    "RecordSchema",
    "by_name",
    "subject_for",
    "topics_with_overrides",
]


@dataclass(frozen=True)
class RecordSchema:
    """One ``.avsc`` file, the dataclass it mirrors and the topic its records go to by default."""

    name: str
    record_type: type
    default_topic: str

    @property
    def file(self) -> str:
        """The schema file name in this package."""
        return f"{self.name}.avsc"

    @cached_property
    def definition(self) -> dict[str, Any]:
        """The parsed Avro schema."""
        loaded: dict[str, Any] = json.loads((resources.files("schemas") / self.file).read_text())
        return loaded

    @cached_property
    def text(self) -> str:
        """The schema as canonical-ish compact JSON, as sent to the registry."""
        return json.dumps(self.definition, separators=(",", ":"))


def subject_for(topic: str) -> str:
    """The registry subject of a topic's values (TopicNameStrategy)."""
    return f"{topic}-value"


RAW_SCHEMAS: tuple[RecordSchema, ...] = (
    RecordSchema("ticker_v2", records.TickerV2, "kucoin.futures.tickerv2"),
    RecordSchema("depth50", records.Depth50, "kucoin.futures.depth50"),
    RecordSchema("kline", records.Kline, "kucoin.futures.kline"),
    RecordSchema("dead_letter", records.DeadLetter, "kucoin.futures.deadletter"),
)
DERIVED_SCHEMAS: tuple[RecordSchema, ...] = (
    RecordSchema("ticker_bar", derived.TickerBar, "kucoin.futures.bars.ticker"),
    RecordSchema("kline_bar", derived.KlineBar, "kucoin.futures.bars.kline"),
    RecordSchema("imbalance", derived.Imbalance, "kucoin.futures.imbalance"),
    RecordSchema("imbalance_bar", derived.ImbalanceBar, "kucoin.futures.bars.imbalance"),
    RecordSchema("late_event", derived.LateEvent, "kucoin.futures.late"),
)
ALL_SCHEMAS: tuple[RecordSchema, ...] = RAW_SCHEMAS + DERIVED_SCHEMAS


def topics_with_overrides(defaults: Mapping[str, str], overrides: Iterable[str], option: str) -> dict[str, str]:
    """``defaults`` (schema name -> topic) with the command line's ``SCHEMA=TOPIC`` overrides applied."""
    topics = dict(defaults)
    for override in overrides:
        name, sep, topic = override.partition("=")
        if not sep or name not in topics or not topic:
            raise ValueError(f"{option} {override!r}: expected SCHEMA=TOPIC with SCHEMA one of {', '.join(topics)}")
        topics[name] = topic
    return topics


def by_name(name: str) -> RecordSchema:
    """The schema called ``name`` (its file name without ``.avsc``)."""
    for schema in ALL_SCHEMAS:
        if schema.name == name:
            return schema
    raise KeyError(f"no schema named {name!r}; known: {', '.join(s.name for s in ALL_SCHEMAS)}")
