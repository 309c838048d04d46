"""Derived records as they arrive, one compact line each, for the ``run`` command's terminal.

Formatting is pure (:func:`describe`); :class:`DerivedView` reads the derived topics ``read_committed`` from their
end, so what it shows is what downstream consumers see.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Consumer

from ops.connections import kafka_config
from schemas.catalog import DERIVED_SCHEMAS, RecordSchema
from schemas.codec import AvroCodec
from schemas.derived import ImbalanceBar, KlineBar, LateEvent, TickerBar
from schemas.registry import codec_for, registry_client

__all__ = ["DerivedView", "describe"]


def _clock(ms: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}"


def _interval(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _signed(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:+.3f}"


def describe(record: object) -> str | None:
    """One line for a derived record (None for per-snapshot imbalance, too frequent to print)."""
    if isinstance(record, TickerBar):
        return (
            f"bar  {_interval(record.interval_ms):>3} {record.symbol:<12} {_clock(record.bar_start_ms)} "
            f"O {record.open_mid} H {record.high_mid} L {record.low_mid} C {record.close_mid} "
            f"spread {record.spread_mean:.6g} n={record.update_count}"
        )
    if isinstance(record, KlineBar):
        return (
            f"kbar {record.granularity_min:>3}m {record.symbol:<12} {_clock(record.bar_start_ms)} "
            f"O {record.open} H {record.high} L {record.low} C {record.close} V {record.volume}"
        )
    if isinstance(record, ImbalanceBar):
        depths = " ".join(f"L{d.depth} {_signed(d.size_imbalance.mean)}" for d in record.depths)
        spread = record.spread_bps.mean
        spread_text = "n/a" if spread is None else f"{spread:.2f}bps"
        return (
            f"imb  {_interval(record.interval_ms):>3} {record.symbol:<12} {_clock(record.bar_start_ms)} "
            f"spread {spread_text} size-imbalance {depths} n={record.snapshot_count}"
        )
    if isinstance(record, LateEvent):
        return f"late {record.processor} {record.symbol} {record.reason} (bar {_clock(record.bar_start_ms)})"
    return None


class DerivedView:
    """Tail the derived topics and hand each decoded record to ``show``."""

    def __init__(
        self,
        bootstrap_servers: str,
        registry_url: str,
        schemas: Iterable[RecordSchema] = DERIVED_SCHEMAS,
        symbols: frozenset[str] | None = None,
    ) -> None:
        registry = registry_client(registry_url)
        self._codecs: dict[str, AvroCodec[Any]] = {
            schema.default_topic: codec_for(registry, schema, schema.default_topic) for schema in schemas
        }
        self._symbols = symbols
        self._consumer = Consumer(
            kafka_config(
                bootstrap_servers,
                {
                    "group.id": f"kucoin-kafka-display-{time.time_ns()}",
                    "isolation.level": "read_committed",
                    "auto.offset.reset": "latest",
                    "enable.auto.commit": False,
                },
            )
        )
        self._consumer.subscribe(list(self._codecs))

    def poll(self, show: Callable[[Any], None], timeout: float = 0.5) -> int:
        """Decode what arrived within ``timeout`` and show it; returns how many records were shown."""
        shown = 0
        for msg in self._consumer.consume(500, timeout):
            if msg.error() is not None or msg.value() is None:
                continue
            record = self._codecs[msg.topic() or ""].decode(msg.value() or b"")
            if self._symbols is None or getattr(record, "symbol", None) in self._symbols:
                show(record)
                shown += 1
        return shown

    def close(self) -> None:
        """Leave the group."""
        self._consumer.close()
