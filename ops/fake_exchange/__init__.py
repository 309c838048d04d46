"""A fake KuCoin Futures exchange (REST + WebSocket) for tests, demos and benchmarks.

Run it::

    async with FakeExchange(FakeExchangeConfig(seed=1, symbols=50, speed=60.0)) as fx:
        client = MyProducer(rest_url=fx.rest_url)      # everything else comes from bullet-public

or from a shell: ``python -m ops.fake_exchange.cli --port 8089 --speed 60`` (``kucoin-kafka fake-exchange``).

What it serves (``/work/shared/kucoin/PROTOCOL.md``): ``POST /api/v1/bullet-public``, ``GET /api/v1/contracts/active``,
``/api/v1/kline/query`` (real paging), ``/api/v1/level2/snapshot`` (and ``depth20``/``depth100``),
``/api/v1/timestamp``, with the public weight pool; and a WebSocket with welcome, subscribe/unsubscribe/ack,
ping/pong, the error codes, idle close, token expiry and the message limit, pushing ``tickerV2``,
``level2Depth50``, ``level2Depth5`` and ``limitCandle``. ``level2`` increments and ``execution`` are not served
(their topics get 404).

Ground truth, for tests that check what a producer published:

- What was delivered: ``fx.recorder.delivered("tickerV2", "XBTUSDTM")`` returns the distinct real events of one
  stream sent over all connections, in exchange order (:class:`Delivered`: ``sequence``, ``ts``, ``text``,
  ``payload()``); ``delivered_books("level2Depth50", sym)`` collapses unchanged resends;
  ``connection_frames(conn_id)`` lists everything one connection was sent, each with ``kind`` ``data``,
  ``duplicate``/``malformed`` (injected, never real events) or ``control``.
- What the model says, offline and independent of any server: ``Market(MarketModel(make_contracts(n), seed,
  genesis_ms)).frames(Subscription("tickerV2", "XBTUSDTM"), start_ns, end_ns)`` gives the exact frames (same
  text) for a fake-time range; ``MarketModel.symbol(sym)`` has ``ticker(version)``, ``book(version, levels)``
  (and their batched ``changes``, ``tickers``, ``books``), ``version_at(t_ns)``, ``trades(start_ns, end_ns)`` and
  ``klines(...)``. ``fx.market`` is the running fake's.

Faults (``fx.faults``; each takes ``conn_id`` or ``None`` for all open connections): ``drop_connection``,
``server_disconnect``, ``send_error``, ``stall_pongs``, ``duplicate_frames``, ``reorder_frames``,
``malformed_frames``, ``delay_frames``, ``expire_tokens``, and ``plan_next(FaultPlan(...), connections=n)`` for
connections not yet open. A client that falls more than ``slow_consumer_lag_s`` behind is disconnected.

Time: ``fx.clock`` runs ``speed`` times real time (``speed=0`` freezes it; ``fx.clock.advance(ms)``).
``max_rate=True`` pushes frames as fast as the client reads. ``capture_path`` records every sent frame as JSONL;
``playback_path`` serves such a file (or a shared real capture) instead of the model.
"""

from ops.fake_exchange.clock import FakeClock
from ops.fake_exchange.config import FakeExchangeConfig
from ops.fake_exchange.contracts import Contract, make_contracts
from ops.fake_exchange.faults import FaultPlan, Faults
from ops.fake_exchange.model import MarketModel, SymbolModel
from ops.fake_exchange.recorder import Delivered, Recorder
from ops.fake_exchange.server import FakeExchange
from ops.fake_exchange.session import SessionLimits, Subscription
from ops.fake_exchange.streams import Frame, Market

__all__ = [
    "Contract",
    "Delivered",
    "FakeClock",
    "FakeExchange",
    "FakeExchangeConfig",
    "FaultPlan",
    "Faults",
    "Frame",
    "Market",
    "MarketModel",
    "Recorder",
    "SessionLimits",
    "Subscription",
    "SymbolModel",
    "make_contracts",
]
