"""The transactional writer's steps, in order, on a ``spec_set`` mock of the producer (the broker tests prove the
outcome): candles and checkpoint inside one transaction, an abortable failure retried, anything else raised."""

from __future__ import annotations

from unittest import mock

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

from producers.klines import kafka
from producers.klines.errors import KlineJobError
from producers.klines.plan import Coverage, SeriesKey
from producers.metrics import ProducerMetrics
from schemas.catalog import by_name
from schemas.codec import AvroCodec
from schemas.records import Kline

KEY = SeriesKey("XBTUSDTM", 1)
COVERAGE = Coverage(1).add(0, 180_000)
CODEC: AvroCodec[Kline] = AvroCodec(by_name("kline"), 1)
CANDLES = [Kline("XBTUSDTM", 1, t, "1", "2", "0.5", "1.5", "3", "4.5", 9) for t in (0, 60_000)]


def writer(monkeypatch: pytest.MonkeyPatch) -> tuple[kafka.TransactionalKlineWriter, mock.MagicMock]:
    producer = mock.MagicMock(spec_set=Producer)
    monkeypatch.setattr(kafka, "Producer", lambda config: producer)
    return kafka.TransactionalKlineWriter("b:9092", "tid", "klines", "klines.cp", CODEC, ProducerMetrics()), producer


def test_a_page_is_one_transaction_candles_first_then_the_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    subject, producer = writer(monkeypatch)
    subject.commit_page(KEY, COVERAGE, CANDLES)
    assert producer.mock_calls == [
        mock.call.begin_transaction(),
        mock.call.produce("klines", CODEC.encode(CANDLES[0]), b"XBTUSDTM", timestamp=0),
        mock.call.produce("klines", CODEC.encode(CANDLES[1]), b"XBTUSDTM", timestamp=60_000),
        mock.call.produce("klines.cp", COVERAGE.encode(), b"XBTUSDTM|1"),
        mock.call.commit_transaction(60.0),
    ]


def test_an_abortable_failure_aborts_and_sends_the_same_page_again(monkeypatch: pytest.MonkeyPatch) -> None:
    subject, producer = writer(monkeypatch)
    abortable = KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, "lost", txn_requires_abort=True))
    retriable = KafkaException(KafkaError(KafkaError._TIMED_OUT, "slow", retriable=True))
    producer.commit_transaction.side_effect = [abortable, retriable, None]
    subject.commit_page(KEY, COVERAGE, CANDLES[:1])
    names = [name for name, _, _ in producer.mock_calls]
    assert names == [
        "begin_transaction", "produce", "produce", "commit_transaction", "abort_transaction",
        "begin_transaction", "produce", "produce", "commit_transaction", "commit_transaction",
    ]  # fmt: skip


def test_a_fatal_error_is_raised_with_a_hint_and_nothing_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    subject, producer = writer(monkeypatch)
    fenced = KafkaException(KafkaError(KafkaError._FENCED, "fenced by a newer instance", fatal=True))
    producer.commit_transaction.side_effect = fenced
    with pytest.raises(KlineJobError, match=r"fenced by a newer instance.*--job-name"):
        subject.commit_page(KEY, COVERAGE, CANDLES)
    assert producer.abort_transaction.call_count == 0 and producer.begin_transaction.call_count == 1
