"""REST klines into Kafka exactly once: backfill over any range and granularity, then live (``kucoin-kafka backfill``).

- :mod:`~producers.klines.plan`: pure; what is committed per series (coverage) and what to fetch next.
- :mod:`~producers.klines.progress`: pure progress maths and the stderr bar.
- :mod:`~producers.klines.kafka`: one Kafka transaction per page, candles and checkpoint together.
- :mod:`~producers.klines.job`: the rounds (backfill, then one per candle close), fair across series.
- :mod:`~producers.klines.cli`: the command.
"""
