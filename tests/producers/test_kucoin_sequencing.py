"""Sequence rules per stream, including the overlap of two connections during a handover."""

from __future__ import annotations

import pytest

from producers.kucoin.sequencing import Outcome, Sequencer
from producers.kucoin.topics import Stream
from schemas.records import Depth50, TickerV2


@pytest.mark.parametrize(
    ("frames", "outcomes"),
    [
        ([(5, 1)], [Outcome.ACCEPTED]),
        ([(5, 1), (6, 2)], [Outcome.ACCEPTED, Outcome.ACCEPTED]),
        ([(5, 1), (5, 2)], [Outcome.ACCEPTED, Outcome.DUPLICATE]),
        ([(5, 1), (5, 1)], [Outcome.ACCEPTED, Outcome.DUPLICATE]),
        ([(5, 1), (4, 2)], [Outcome.ACCEPTED, Outcome.REGRESSION]),
        ([(5, 1), (9, 2), (7, 3), (10, 4)], [Outcome.ACCEPTED, Outcome.ACCEPTED, Outcome.REGRESSION, Outcome.ACCEPTED]),
    ],
)
def test_ticker_rules(frames: list[tuple[int, int]], outcomes: list[Outcome]) -> None:
    sequencer = Sequencer(Stream.TICKER_V2)
    assert [sequencer.observe("A", seq, ts) for seq, ts in frames] == outcomes


@pytest.mark.parametrize(
    ("keep", "frames", "outcomes"),
    [
        (False, [(5, 100), (5, 200)], [Outcome.ACCEPTED, Outcome.REPEAT_SUPPRESSED]),
        (True, [(5, 100), (5, 200)], [Outcome.ACCEPTED, Outcome.REPEAT_KEPT]),
        (True, [(5, 100), (5, 100)], [Outcome.ACCEPTED, Outcome.DUPLICATE]),
        (True, [(5, 200), (5, 100)], [Outcome.ACCEPTED, Outcome.DUPLICATE]),
        (False, [(5, 100), (4, 300)], [Outcome.ACCEPTED, Outcome.REGRESSION]),
        (False, [(5, 100), (6, 50)], [Outcome.ACCEPTED, Outcome.ACCEPTED]),
    ],
)
def test_book_rules(keep: bool, frames: list[tuple[int, int]], outcomes: list[Outcome]) -> None:
    sequencer = Sequencer(Stream.DEPTH50, keep_repeats=keep)
    assert [sequencer.observe("A", seq, ts) for seq, ts in frames] == outcomes


def test_symbols_are_independent_and_counted() -> None:
    sequencer = Sequencer(Stream.TICKER_V2)
    sequencer.observe("A", 10, 1)
    assert sequencer.observe("B", 1, 1) is Outcome.ACCEPTED
    sequencer.observe("A", 9, 2)
    assert sequencer.counts[Outcome.ACCEPTED] == 2
    assert sequencer.counts[Outcome.REGRESSION] == 1
    assert sum(sequencer.counts.values()) == 3


def test_handover_overlap_publishes_each_book_once() -> None:
    """Old and new connection deliver interleaved copies of the same frames during a token rotation."""
    sequencer = Sequencer(Stream.DEPTH50, keep_repeats=True)
    stream = [(100, 1000), (100, 1100), (101, 1200), (102, 1300)]
    old = stream[:3]
    new = stream[1:]
    arrivals = [old[0], old[1], new[0], old[2], new[1], new[2]]
    published = [frame for frame in arrivals if sequencer.observe("A", *frame).publish]
    assert published == stream
    assert sequencer.counts[Outcome.DUPLICATE] == 2


def test_forget_restarts_a_relisted_symbol() -> None:
    sequencer = Sequencer(Stream.TICKER_V2)
    sequencer.observe("A", 10, 1)
    sequencer.forget("A")
    sequencer.forget("never-seen")
    assert sequencer.observe("A", 1, 2) is Outcome.ACCEPTED


def test_admit_records() -> None:
    tickers = Sequencer(Stream.TICKER_V2)
    ticker = TickerV2("A", 5, "1", "1", "2", "1", 10, 11)
    assert tickers.admit(ticker)
    assert not tickers.admit(ticker)
    books = Sequencer(Stream.DEPTH50)
    book = Depth50("A", 5, ("1",), ("1",), (), (), 10, 11)
    assert books.admit(book)
    assert not books.admit(Depth50("A", 5, ("1",), ("1",), (), (), 20, 12))
