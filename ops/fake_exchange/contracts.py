"""The fake's contract universe: which symbols exist and their tick, lot and multiplier.

The universe depends only on its size, never on the seed, so tests can name symbols (``XBTUSDTM``, ``ETHUSDTM``,
the inverse ``XBTUSDM``) whatever seed they use. The first contracts are well-known ones with realistic specs;
the rest are generated USDT perpetuals whose tick keeps a price of 1,000 to 100,000 ticks, as on the real list.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

from ops.fake_exchange.numbers import scaled_decimal

__all__ = ["MAX_CONTRACTS", "Contract", "make_contracts"]

MAX_CONTRACTS = 1000
_UNIVERSE_SEED = "kucoin-futures-fake-universe"


@dataclass(frozen=True, slots=True)
class Contract:
    """One futures contract. Prices are integers of ``10**-price_decimals``; a tick is ``tick_units`` of them."""

    symbol: str
    base_currency: str
    quote_currency: str
    settle_currency: str
    multiplier: Decimal
    tick_units: int
    price_decimals: int
    lot_size: int
    initial_price_units: int
    is_inverse: bool

    @property
    def tick_size(self) -> Decimal:
        """The price increment as a decimal (``0.1``)."""
        return scaled_decimal(self.tick_units, self.price_decimals)

    @property
    def initial_ticks(self) -> int:
        """The starting price in ticks."""
        return self.initial_price_units // self.tick_units


def _spec(
    symbol: str, base: str, quote: str, price: str, decimals: int, multiplier: str, *, tick_units: int = 1
) -> Contract:
    inverse = multiplier.startswith("-")
    units = int(Decimal(price).scaleb(decimals))
    return Contract(
        symbol=symbol,
        base_currency=base,
        quote_currency=quote,
        settle_currency=base if inverse else quote,
        multiplier=Decimal(multiplier),
        tick_units=tick_units,
        price_decimals=decimals,
        lot_size=1,
        initial_price_units=units - units % tick_units,
        is_inverse=inverse,
    )


_WELL_KNOWN: tuple[Contract, ...] = (
    _spec("XBTUSDTM", "XBT", "USDT", "88987.4", 1, "0.001"),
    _spec("ETHUSDTM", "ETH", "USDT", "2749.69", 2, "0.01"),
    _spec("XBTUSDM", "XBT", "USD", "88990.1", 1, "-1"),
    _spec("ETHUSDM", "ETH", "USD", "2749.65", 2, "-1", tick_units=5),
    _spec("SOLUSDTM", "SOL", "USDT", "152.314", 3, "0.1"),
    _spec("XRPUSDTM", "XRP", "USDT", "0.6123", 4, "10"),
    _spec("DOGEUSDTM", "DOGE", "USDT", "0.15421", 5, "100"),
    _spec("BNBUSDTM", "BNB", "USDT", "598.71", 2, "0.01"),
    _spec("ADAUSDTM", "ADA", "USDT", "0.45671", 5, "10"),
    _spec("LTCUSDTM", "LTC", "USDT", "81.38", 2, "0.1"),
    _spec("LINKUSDTM", "LINK", "USDT", "14.532", 3, "0.1"),
    _spec("AVAXUSDTM", "AVAX", "USDT", "27.114", 3, "0.1"),
    _spec("DOTUSDTM", "DOT", "USDT", "5.1234", 4, "1"),
    _spec("BABYUSDTM", "BABY", "USDT", "0.02157", 5, "10"),
    _spec("AUCTIONUSDTM", "AUCTION", "USDT", "24.067", 3, "0.1"),
    _spec("SHIBUSDTM", "SHIB", "USDT", "0.00001234", 8, "100000"),
    _spec("XBTUSDCM", "XBT", "USDC", "88991.2", 1, "0.001"),
    _spec("ETHUSDCM", "ETH", "USDC", "2749.71", 2, "0.01"),
)

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _generated(rng: random.Random, taken: set[str]) -> Contract:
    while True:
        base = "".join(rng.choice(_LETTERS) for _ in range(rng.choice((3, 3, 4, 4, 5))))
        symbol = f"{base}USDTM"
        if symbol not in taken:
            break
    price = 10 ** rng.uniform(-5.0, 4.0)
    decimals = min(10, max(0, 3 - math.floor(math.log10(price))))
    units = max(1000, round(price * 10**decimals))
    multiplier_exp = round(math.log10(5.0 / price))
    multiplier = Decimal(1).scaleb(multiplier_exp)
    return Contract(
        symbol=symbol,
        base_currency=base,
        quote_currency="USDT",
        settle_currency="USDT",
        multiplier=multiplier,
        tick_units=1,
        price_decimals=decimals,
        lot_size=1,
        initial_price_units=units,
        is_inverse=False,
    )


def make_contracts(count: int) -> tuple[Contract, ...]:
    """The first ``count`` contracts of the universe (at most :data:`MAX_CONTRACTS`), well-known ones first."""
    if not 1 <= count <= MAX_CONTRACTS:
        raise ValueError(f"contract count {count} is outside 1..{MAX_CONTRACTS}")
    contracts = list(_WELL_KNOWN[:count])
    taken = {c.symbol for c in contracts}
    rng = random.Random(_UNIVERSE_SEED)
    while len(contracts) < count:
        contract = _generated(rng, taken)
        taken.add(contract.symbol)
        contracts.append(contract)
    return tuple(contracts)
