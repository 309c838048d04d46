"""Benchmark figures in one shape, and the three outputs of the suite: JSON, a markdown table, a PNG chart.

Every figure is measured beside its baseline and its limit in the same run (these machines are noisy), so the
report shows ratios next to absolute numbers.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["Figure", "machine", "markdown_table", "write_chart", "write_json"]

VARIANTS = ("baseline", "ours", "limit")


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number: which suite and case, which variant (baseline, ours, limit), value and unit."""

    suite: str
    case: str
    variant: str
    value: float
    unit: str
    note: str = ""

    def line(self) -> str:
        """Human-readable form for the console."""
        note = f"  ({self.note})" if self.note else ""
        return f"{self.suite:<14} {self.case:<34} {self.variant:<9} {self.value:>14,.1f} {self.unit}{note}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """Where the figures come from: CPU, cores, memory, versions."""
    packages = ("confluent-kafka", "aiokafka", "faust-streaming", "fastavro", "websockets")
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    memory_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
        "packages": versions,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_json(path: Path, figures: Sequence[Figure], extra: dict[str, Any]) -> None:
    """Machine-readable results with the machine they came from."""
    path.write_text(json.dumps({"machine": machine(), **extra, "figures": [asdict(f) for f in figures]}, indent=2))


def _ratio(figures: Sequence[Figure], suite: str, case: str, numerator: str, denominator: str) -> str:
    values = {f.variant: f.value for f in figures if f.suite == suite and f.case == case}
    if numerator in values and denominator in values and values[denominator]:
        return f"{values[numerator] / values[denominator]:.2f}x"
    return ""


def markdown_table(figures: Sequence[Figure]) -> str:
    """One row per (suite, case): baseline, ours, limit, and ours/baseline, ours/limit."""
    rows = ["| suite | case | unit | baseline | ours | limit | ours/baseline | ours/limit |", "|" + "---|" * 8]
    seen: list[tuple[str, str]] = []
    for figure in figures:
        if (figure.suite, figure.case) not in seen:
            seen.append((figure.suite, figure.case))
    for suite, case in seen:
        group = {f.variant: f for f in figures if f.suite == suite and f.case == case}
        unit = next(iter(group.values())).unit
        cells = [f"{group[v].value:,.1f}" if v in group else "" for v in VARIANTS]
        rows.append(
            f"| {suite} | {case} | {unit} | {' | '.join(cells)} | "
            f"{_ratio(figures, suite, case, 'ours', 'baseline')} | {_ratio(figures, suite, case, 'ours', 'limit')} |"
        )
    return "\n".join(rows) + "\n"


def write_chart(path: Path, figures: Iterable[Figure], title: str) -> None:
    """A grouped horizontal bar chart: per case, baseline / ours / limit, each relative to the limit (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [f for f in figures if f.unit.endswith("/s")]
    cases: list[tuple[str, str]] = []
    for figure in rates:
        if (figure.suite, figure.case) not in cases:
            cases.append((figure.suite, figure.case))
    fig, ax = plt.subplots(figsize=(11, 0.3 * len(cases) * 3 + 1.5))
    colours = {"baseline": "#bbbbbb", "ours": "#1f77b4", "limit": "#2ca02c"}
    labels = []
    for index, (suite, case) in enumerate(cases):
        group = {f.variant: f.value for f in rates if f.suite == suite and f.case == case}
        for offset, variant in enumerate(VARIANTS):
            if variant in group:
                y = index * 4 + offset
                ax.barh(y, group[variant], color=colours[variant])
                ax.text(group[variant], y, f" {group[variant]:,.0f}", va="center", fontsize=7)
        labels.append((index * 4 + 1, f"{suite}: {case}"))
    ax.set_yticks([y for y, _ in labels], [text for _, text in labels], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("records or frames per second (log scale)")
    ax.invert_yaxis()
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=colours[v], label=v) for v in VARIANTS], loc="lower right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
