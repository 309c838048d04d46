"""Bytes in, bytes out: a job's core processors per source partition, with their state kept restorable.

No Kafka or Faust here. The Faust wiring hands over batches of input payloads of one partition; the runner decodes
a batch at once, runs the core over it, and returns the encoded derived records, each keyed by symbol for the same
partition. It keeps one core processor per partition (so a revoked partition is dropped whole) and restores a
symbol's state from the changelogged table the first time the symbol shows up in an assignment. It remembers which
symbols changed since the last checkpoint, whose state the checkpoint writes to the changelog.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from processors.core import SymbolState
from processors.jobs import JobSpec, Output, Processor
from schemas.codec import AvroCodec

__all__ = ["Outgoing", "Runner", "StateLookup", "decode_state", "encode_state"]

StateLookup = Callable[[str], SymbolState | None]
"""The committed state of a symbol (the changelogged table), or None for a symbol never seen."""


def encode_state(state: SymbolState) -> str:
    """A symbol's state as the table's value: JSON text, which Faust's JSON codec (orjson, refusing integers beyond
    64 bits) stores as a string. Written by orjson, ten times faster than the standard library (a checkpoint writes
    the state of every symbol that changed, up to one per event at full market), unless an integer is too large for
    it (a day bar's minute bitmask has 1,440 bits). Both read back to the same values; orjson would write a
    non-finite float as null, but no core state holds one (exchange numbers are finite)."""
    try:
        return orjson.dumps(state).decode()
    except orjson.JSONEncodeError:
        return json.dumps(state, separators=(",", ":"), allow_nan=False)


def decode_state(data: str) -> SymbolState:
    state: SymbolState = json.loads(data)
    return state


class Outgoing(NamedTuple):
    """One encoded derived record."""

    topic: str
    key: bytes
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class _Route:
    topic: str
    encode: Callable[[Any], bytes]
    event_time_ms: Callable[[Any], int]
    late: bool


def _route(topic: str, codec: AvroCodec[Any], output: Output) -> _Route:
    return _Route(topic, codec.encode, output.event_time_ms, output.schema.name == "late_event")


class _Partition:
    __slots__ = ("changed", "known", "processor")

    def __init__(self, processor: Processor) -> None:
        self.processor = processor
        self.known: set[str] = set()
        self.changed: set[str] = set()


class Runner:
    """One job's processing for the partitions this worker owns."""

    def __init__(
        self,
        spec: JobSpec,
        input_codec: AvroCodec[Any],
        output_codecs: Mapping[type, tuple[str, AvroCodec[Any]]],
        lookup: StateLookup,
    ) -> None:
        self._spec = spec
        self._decode_many = input_codec.decode_many
        self._routes = {
            kind: _route(topic, codec, spec.outputs[kind]) for kind, (topic, codec) in output_codecs.items()
        }
        self._lookup = lookup
        self._partitions: dict[int, _Partition] = {}
        self._home: dict[str, int] = {}
        self.late_events = 0

    def process(self, partition: int, payloads: Sequence[bytes]) -> list[Outgoing]:
        """The derived records of a batch of ``partition``'s input records, in order."""
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition(self._spec.make_processor())
        process = state.processor.process
        known, changed = state.known, state.changed
        routes = self._routes
        out: list[Outgoing] = []
        for record in self._decode_many(payloads):
            symbol: str = record.symbol
            if symbol not in known:
                self._adopt(partition, state, symbol)
            changed.add(symbol)
            derived_records = process(record)
            if not derived_records:
                continue
            key = symbol.encode()
            for derived in derived_records:
                route = routes[type(derived)]
                if route.late:
                    self.late_events += 1
                out.append(Outgoing(route.topic, key, route.encode(derived), route.event_time_ms(derived)))
        return out

    def _adopt(self, partition: int, state: _Partition, symbol: str) -> None:
        home = self._home.setdefault(symbol, partition)
        if home != partition:
            raise ValueError(
                f"symbol {symbol} arrived on partitions {home} and {partition}: the input must be keyed by symbol"
            )
        saved = self._lookup(symbol)
        if saved is not None:
            state.processor.restore_symbol(symbol, saved)
        state.known.add(symbol)

    def take_changed(self, partition: int) -> list[tuple[str, SymbolState]]:
        """The state of every symbol of ``partition`` changed since the last call, by symbol."""
        state = self._partitions.get(partition)
        if state is None or not state.changed:
            return []
        changed = sorted(state.changed)
        state.changed.clear()
        out: list[tuple[str, SymbolState]] = []
        for symbol in changed:
            saved = state.processor.snapshot_symbol(symbol)
            if saved is not None:
                out.append((symbol, saved))
        return out

    def forget(self, partitions: frozenset[int]) -> None:
        """Drop revoked partitions; their state lives on in the table, for whoever owns them next."""
        for partition in partitions:
            self._partitions.pop(partition, None)
        self._home = {symbol: p for symbol, p in self._home.items() if p not in partitions}
