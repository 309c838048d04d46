"""The whole benchmark suite in one command (``kucoin-kafka bench`` or ``python -m ops.bench.suite``).

Runs every benchmark on the local stack, each figure beside its baseline and its limit in the same run, then
writes ``results.json`` (with versions, CPU model, core count), ``results.md`` (the table, the hot spots of the
profiles) and ``results.png`` (the chart) into the output folder. A part that fails is reported, not fatal: the
rest of the suite still runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ops.bench import broker, fake_exchange, profiles, replay
from ops.bench.report import Figure, machine, markdown_table, write_chart, write_json

__all__ = ["Part", "main", "parts", "run"]


@dataclass(frozen=True, slots=True)
class Part:
    """One benchmark of the suite."""

    name: str
    run: Callable[[], list[Figure]]


def parts(quick: bool) -> list[Part]:
    """The suite, smallest first; ``quick`` shrinks every workload (for a smoke run, not for figures)."""
    scale = 0.1 if quick else 1.0
    found = [
        Part("fake exchange", lambda: fake_exchange.figures(symbols=50, seconds=4 * scale + 1)),
        Part("broker", lambda: broker.figures(records=int(1_000_000 * scale))),
        Part("replay", lambda: replay.figures(int(200_000 * scale), int(30_000 * scale))),
    ]
    found += _optional_parts(scale)
    return found


def _optional_parts(scale: float) -> list[Part]:
    """The jobs' benchmarks: producer, processors (both with scaling), end to end."""
    from ops.bench import end_to_end, processors, producer

    return [
        Part("producer", lambda: _in_own_process(producer.figures, scale)),
        Part("processors", lambda: processors.figures(scale)),
        Part("end to end", lambda: end_to_end.figures(50, max(5.0, 20 * scale), max(5.0, 10 * scale))),
    ]


def _in_own_process(figures: Callable[[float], list[Figure]], scale: float) -> list[Figure]:
    """``figures(scale)`` in a fresh interpreter: the producer's peak RSS is the producer's, not this process's heap
    as the earlier parts left it (in-process, the suite reported 192-421 MB where the producer alone peaks at
    ~140 MB)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(figures, scale).result()


def run(out_dir: Path, quick: bool = False) -> tuple[list[Figure], list[str]]:
    """Run every part; returns the figures and the failures (one line each)."""
    figures: list[Figure] = []
    failures: list[str] = []
    for part in parts(quick):
        started = time.monotonic()
        print(f"== {part.name}", flush=True)
        try:
            found = part.run()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failures.append(f"{part.name}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            continue
        for figure in found:
            print(figure.line(), flush=True)
        figures += found
        print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    return figures, failures


def main(argv: list[str] | None = None) -> int:
    """Run the suite and write the three outputs."""
    parser = argparse.ArgumentParser(prog="kucoin-kafka bench", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="output folder (bench-results)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny workloads: checks the suite runs, figures mean nothing"
    )
    parser.add_argument("--no-profiles", action="store_true", help="skip the pyinstrument profiles")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    figures, failures = run(args.out, args.quick)
    hot_spots = {} if args.no_profiles else profiles.hot_spots(args.out, 0.2 if args.quick else 1.0)
    elapsed = time.monotonic() - started
    where = machine()
    write_json(args.out / "results.json", figures, {"failures": failures, "hot_spots": hot_spots, "seconds": elapsed})
    table = markdown_table(figures)
    lines = [
        f"Machine: {where['cpu']}, {where['cores']} cores, {where['memory_gib']} GiB, Python {where['python']}, "
        f"load average at the end {where['load_average'][0]:.1f}; {where['date']}; suite took {elapsed:.0f} s.",
        "",
        table,
    ]
    for name, spots in hot_spots.items():
        lines += ["", f"Hot spots, {name} (pyinstrument, self time):", ""]
        lines += [f"{rank}. {spot}" for rank, spot in enumerate(spots, 1)]
    if failures:
        lines += ["", "Failed parts:", *(f"- {failure}" for failure in failures)]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    write_chart(
        args.out / "results.png", figures, f"kucoin-kafka benchmarks on {where['cores']} cores ({where['cpu']})"
    )
    print(table)
    print(f"wrote {args.out}/results.json, results.md, results.png in {elapsed:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
