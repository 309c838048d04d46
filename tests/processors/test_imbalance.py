"""Golden tests of the order-book imbalance, per snapshot and per interval, with the numbers worked by hand."""

from __future__ import annotations

import hashlib
import json

import pytest

from processors.core import ImbalanceProcessor, WindowSpec
from schemas.derived import DepthImbalance, Imbalance, ImbalanceBar, LateEvent, Stats
from schemas.records import Depth50
from tests.processors.streams import depth_stream

T = 1_731_680_249_000


def book(
    ms: int,
    seq: int,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    symbol: str = "XBTUSDTM",
) -> Depth50:
    return Depth50(
        symbol,
        seq,
        tuple(p for p, _ in bids),
        tuple(s for _, s in bids),
        tuple(p for p, _ in asks),
        tuple(s for _, s in asks),
        ms,
        ms * 1_000_000 + 7,
    )


def snapshots(out: list[Imbalance | ImbalanceBar | LateEvent]) -> list[Imbalance]:
    return [o for o in out if isinstance(o, Imbalance)]


def test_golden_snapshot_with_depth_clipping() -> None:
    processor = ImbalanceProcessor(depths=(5, 1, 2))
    bids = [("100.0", "3"), ("99.5", "1"), ("99.0", "4")]
    asks = [("100.5", "1"), ("101.0", "2")]
    [snap] = snapshots(processor.process(book(T, 42, bids, asks)))
    assert (snap.symbol, snap.sequence, snap.exchange_ts_ms) == ("XBTUSDTM", 42, T)
    assert (snap.best_bid_price, snap.best_ask_price, snap.mid_price) == ("100.0", "100.5", "100.25")
    assert snap.microprice == pytest.approx((100.0 * 1 + 100.5 * 3) / (3 + 1))  # 100.375: leans to the ask
    assert snap.spread_bps == pytest.approx(0.5 / 100.25 * 10_000)  # 49.875...
    assert [d.depth for d in snap.depths] == [1, 2, 5]  # sorted
    one, two, five = snap.depths
    # depth 1: sizes 3 vs 1; notional 300 vs 100.5
    assert one.size_imbalance == pytest.approx(0.5)
    assert one.notional_imbalance == pytest.approx((300 - 100.5) / (300 + 100.5))
    # depth 2: sizes 3+1 vs 1+2; notional 300+99.5 = 399.5 vs 100.5+202 = 302.5
    assert two.size_imbalance == pytest.approx(1 / 7)
    assert two.notional_imbalance == pytest.approx(97 / 702)
    # depth 5 clipped to 3 bids and 2 asks: sizes 8 vs 3; notional 399.5+396 = 795.5 vs 302.5
    assert five.size_imbalance == pytest.approx(5 / 11)
    assert five.notional_imbalance == pytest.approx(493 / 1098)


def test_inverse_contract_notional_is_coin_value() -> None:
    bids, asks = [("100", "3")], [("50", "1")]  # exaggerated prices so the two conventions differ
    inverse = ImbalanceProcessor(depths=(1,), inverse_symbols={"XBTUSDM"})
    [snap] = snapshots(inverse.process(book(T, 1, bids, asks, symbol="XBTUSDM")))
    # one contract = 1 USD: coin value 3/100 = 0.03 vs 1/50 = 0.02 -> 0.01 / 0.05
    assert snap.depths[0].notional_imbalance == pytest.approx(0.2)
    [linear] = snapshots(inverse.process(book(T, 1, bids, asks, symbol="XBTUSDTM")))
    assert linear.depths[0].notional_imbalance == pytest.approx((300 - 50) / (300 + 50))


def test_empty_sides() -> None:
    processor = ImbalanceProcessor(depths=(1,))
    [one_sided] = snapshots(processor.process(book(T, 1, [], [("11", "2")])))
    assert one_sided.depths == (DepthImbalance(1, -1.0, -1.0),)  # (0 - 2) / (0 + 2)
    assert (one_sided.best_bid_price, one_sided.mid_price, one_sided.microprice, one_sided.spread_bps) == (
        None,
        None,
        None,
        None,
    )
    [empty] = snapshots(processor.process(book(T + 1, 2, [], [])))
    assert empty.depths == (DepthImbalance(1, None, None),)


def test_golden_bar_counts_resends_but_emits_one_snapshot_per_sequence() -> None:
    processor = ImbalanceProcessor(WindowSpec((1_000,), {1_000: 0}), depths=(1,))
    a_bids, a_asks = [("10", "3")], [("11", "1")]  # size imbalance +0.5, spread 1 / 10.5 * 1e4 bps
    first = processor.process(book(T, 1, a_bids, a_asks))
    resend = processor.process(book(T + 100, 1, a_bids, a_asks))  # the 100 ms resend: same sequence
    later = processor.process(book(T + 200, 2, [("10", "1")], [("11", "3")]))  # -0.5
    assert [len(snapshots(first)), len(resend), len(snapshots(later))] == [1, 0, 1]
    closing = processor.process(book(T + 1_000, 3, a_bids, a_asks))
    assert [type(o) for o in closing] == [Imbalance, ImbalanceBar]  # the snapshot first, then bars
    bar = closing[1]
    assert isinstance(bar, ImbalanceBar)
    assert (bar.bar_start_ms, bar.bar_end_ms, bar.snapshot_count) == (T, T + 1_000, 3)
    assert (bar.first_sequence, bar.last_sequence) == (1, 2)
    [depth] = bar.depths
    # samples +0.5, +0.5 (resend), -0.5: mean 1/6, last -0.5
    assert depth.depth == 1
    assert depth.size_imbalance == Stats(3, pytest.approx(1 / 6), -0.5, -0.5, 0.5)  # type: ignore[arg-type]
    spread = 1 / 10.5 * 10_000
    assert bar.spread_bps == Stats(3, pytest.approx(spread), spread, spread, spread)  # type: ignore[arg-type]


def test_bar_stats_skip_undefined_values() -> None:
    processor = ImbalanceProcessor(WindowSpec((1_000,)), depths=(1,))
    processor.process(book(T, 1, [], []))
    [bar] = [o for o in processor.flush() if isinstance(o, ImbalanceBar)]
    assert bar.snapshot_count == 1
    assert bar.depths[0].size_imbalance == Stats(0, None, None, None, None)


def test_late_snapshot_still_gets_its_snapshot_record() -> None:
    processor = ImbalanceProcessor(WindowSpec((1_000,), {1_000: 0}), depths=(1,))
    processor.process(book(T + 5_000, 2, [("10", "1")], [("11", "1")]))
    out = processor.process(book(T, 1, [("10", "1")], [("11", "1")]))
    assert [type(o) for o in out] == [Imbalance, LateEvent]
    late = out[1]
    assert isinstance(late, LateEvent)
    assert (late.processor, late.reason, late.sequence, late.event_ts_ns) == ("imbalance", "late", 1, T * 10**6)


def test_emit_empty_carries_the_last_values() -> None:
    processor = ImbalanceProcessor(WindowSpec((1_000,), {1_000: 0}, emit_empty=True), depths=(1,))
    processor.process(book(T, 1, [("10", "1")], [("11", "3")]))  # -0.5
    out = processor.process(book(T + 2_500, 2, [("10", "1")], [("11", "1")]))
    bars = [o for o in out if isinstance(o, ImbalanceBar)]
    assert [(b.bar_start_ms, b.snapshot_count) for b in bars] == [(T, 1), (T + 1_000, 0)]
    gap = bars[1]
    assert gap.depths[0].size_imbalance == Stats(0, -0.5, -0.5, -0.5, -0.5)
    assert (gap.first_sequence, gap.last_sequence) == (1, 1)


def test_depths_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ImbalanceProcessor(depths=(0, 5))


def _reference_runs() -> list[tuple[ImbalanceProcessor, list[Depth50]]]:
    """Inverse and clipped books, resends and filled gaps: the streams the reference digests were taken over."""
    return [
        (ImbalanceProcessor(inverse_symbols={"XBTUSDM"}), depth_stream(31, 3_000, levels=50)),
        (ImbalanceProcessor(depths=(3, 1, 100)), depth_stream(32, 2_000, levels=7, resend=0.3)),
        (ImbalanceProcessor(WindowSpec((1_000,), emit_empty=True), depths=(1, 2)), depth_stream(33, 1_000, levels=2)),
    ]


def test_outputs_keep_every_bit_of_the_reference_implementation() -> None:
    """Speed-ups must not move a float by one bit: the digest of every output (their reprs are exact) over inverse
    and clipped books, resends, late events and filled gaps was taken with the straightforward implementation
    (per-level lists, Decimal mids). Only a deliberate change of the outputs may change it."""
    digest = hashlib.sha256()
    runs = _reference_runs()
    for processor, records in runs:
        for record in records:
            for output in processor.process(record):
                digest.update(repr(output).encode())
        for output in processor.flush():
            digest.update(repr(output).encode())
    assert digest.hexdigest() == "f61cc0a5c3fb9ab164898daed51ad3831fb3f58b508481caa119d1ad2993f8e4"


def test_state_keeps_its_serialised_form() -> None:
    """A worker restores what the previous version wrote to the changelog: the digest of the state at many points of
    the same streams (per value ``[count, sum, min, max, last]``, values None until defined) was taken before the
    bar statistics were kept column by column. Only a deliberate, migrated change of the state may change it."""
    digest = hashlib.sha256()
    runs = _reference_runs()
    for processor, records in runs:
        for index, record in enumerate(records):
            processor.process(record)
            if index % 97 == 0:
                digest.update(json.dumps(processor.state, sort_keys=True).encode())
    assert digest.hexdigest() == "9e590a1ba7e240f5525ae9ec306bebfba1ab227fab09aa951e445698efa2510e"
