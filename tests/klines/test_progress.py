"""Progress arithmetic and its two renderings (terminal in place, or periodic lines in a pipe)."""

from __future__ import annotations

import io

from producers.klines.progress import Progress, ProgressBar, format_duration


def test_fraction_eta_and_rendering() -> None:
    progress = Progress(slots_total=1000, pages_total=4, started_s=100.0)
    assert progress.fraction == 0.0 and progress.eta_s(101.0) is None
    progress = progress.page_committed(slots=250, candles=240)
    assert progress.fraction == 0.25 and progress.eta_s(102.0) == 6.0
    line = progress.render(102.0)
    assert line.startswith("klines  25% |######------------------| 1/4 pages, 240 candles, 120/s, ETA 0:00:06")
    for _ in range(3):
        progress = progress.page_committed(250, 250)
    assert progress.render(110.0).endswith("4/4 pages, 990 candles, 99/s, in 0:00:10")
    assert Progress(0, 0, 0.0).fraction == 1.0


def test_format_duration() -> None:
    assert format_duration(0) == "0:00:00"
    assert format_duration(3725.4) == "1:02:05"


def test_terminal_redraws_in_place_and_pipes_get_throttled_lines() -> None:
    progress = Progress(10, 1, 0.0).page_committed(5, 5)
    tty = io.StringIO()
    bar = ProgressBar(tty, is_tty=True)
    bar.update(progress, 1.0)
    bar.update(progress, 1.05)  # too soon: not redrawn
    bar.update(progress, 1.06, final=True)
    assert tty.getvalue().count("\r") == 2 and tty.getvalue().endswith("\n")
    pipe = io.StringIO()
    bar = ProgressBar(pipe, is_tty=False)
    for now in (1.0, 2.0, 3.0, 7.0):
        bar.update(progress, now)
    assert pipe.getvalue().count("\n") == 2 and "\r" not in pipe.getvalue()
    ProgressBar(None, is_tty=False).update(progress, 1.0, final=True)  # --no-progress: nothing, no error
