"""What every benchmark shares: paired rounds, median with its spread, a verdict, one results file.

A goal here is a ratio (our speed against a reference, or an overhead). One timing of
each side cannot settle it on a 2-core machine that other work may share, so every
benchmark times both sides in rounds, back to back and in alternating order (a slow
spell then hits both sides of a round alike), and judges the per-round ratios:

- the median ratio is the figure;
- its spread is the interquartile range of the rounds and a 95% confidence interval
  of the median: the distribution-free one from order statistics (the true median
  lies below the k-th smallest of n rounds with a binomial(n, 1/2) probability), so
  it assumes nothing about the shape of the noise, which on a shared machine is
  anything but normal. It needs at least 6 rounds ([min, max] then covers 97%);
  with fewer there is no 95% interval;
- the verdict is "met" when the whole interval is on the goal's side, "not met" when
  it is wholly on the other side, and "unresolved at this noise" when it straddles the
  goal (or there are too few rounds): more rounds, or a quieter machine, are needed.

With `--results FILE`, a benchmark appends its rows (JSON lines) to FILE; `python
bench/benchstats.py FILE` turns them into the Markdown table `make bench` prints and
writes, with the machine's CPU model from /proc/cpuinfo.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from math import comb
from pathlib import Path

import numpy as np

MET, NOT_MET, UNRESOLVED = "met", "not met", "unresolved at this noise"
UNRECORDED = "machine not recorded"


@dataclass(frozen=True)
class Spread:
    median: float
    q1: float
    q3: float
    low: float  # 95% confidence interval of the median; -inf, inf with under 6 rounds
    high: float
    n: int


def median_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """The order-statistic interval [x_(k), x_(n+1-k)] with the largest k that keeps its coverage >= `confidence`."""
    x = sorted(values)
    n = len(x)
    tail = (1 - confidence) / 2
    k, below = 0, 0.0  # below: P(binomial(n, 1/2) <= k - 1), the chance the median is under x_(k)
    while k < n:
        below += comb(n, k) / 2**n
        if below > tail:
            break
        k += 1
    return (x[k - 1], x[n - k]) if k else (-math.inf, math.inf)


def spread(values: Sequence[float]) -> Spread:
    """Median, quartiles and a distribution-free 95% interval of the median."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no measurements")
    q1, q3 = np.percentile(x, [25, 75])
    low, high = median_interval(x.tolist())
    return Spread(float(np.median(x)), float(q1), float(q3), low, high, int(x.size))


def scaled(s: Spread, factor: float) -> Spread:
    """The same spread in other units (e.g. a fraction as a percentage)."""
    return Spread(s.median * factor, s.q1 * factor, s.q3 * factor, s.low * factor, s.high * factor, s.n)


def verdict(s: Spread, goal: float, *, at_least: bool) -> str:
    """met / not met / unresolved, from where the interval of the median lies against the goal."""
    good = s.low >= goal if at_least else s.high < goal
    bad = s.high < goal if at_least else s.low >= goal
    return MET if good else NOT_MET if bad else UNRESOLVED


def rounds(sides: dict[str, Callable[[], float]], count: int, *, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per side per round, after `warmup` untimed rounds; the order flips every round.

    Each callable does one side's work once and returns the seconds to count (it may
    leave set-up out of its own timing).
    """
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(count):
        for name in names if i % 2 == 0 else reversed(names):
            times[name].append(sides[name]())
    return times


def timed(fn: Callable[[], object]) -> Callable[[], float]:
    """A callable returning the wall seconds `fn()` took."""

    def run() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return run


def ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    """Per-round ratios of two sides' timings (rounds are paired by index)."""
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


def describe(s: Spread, unit: str = "x", digits: int = 2) -> str:
    """`2.95x (IQR 2.80-3.10; 95% CI of the median 2.70-3.20; 7 rounds)`."""
    f = f"{{:.{digits}f}}"
    interval = (
        f"95% CI of the median {f.format(s.low)}-{f.format(s.high)}"
        if math.isfinite(s.low)
        else "too few rounds for a 95% CI"
    )
    return f"{f.format(s.median)}{unit} (IQR {f.format(s.q1)}-{f.format(s.q3)}; {interval}; {s.n} rounds)"


def record(results: str | None, **row) -> None:
    """Append one table row to the results file (JSON lines), when one was given."""
    if not results:
        return
    row = {k: asdict(v) if isinstance(v, Spread) else v for k, v in row.items()}
    row.setdefault("machine", machine())
    row.setdefault("date", time.strftime("%Y-%m-%d", time.gmtime()))
    with open(results, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def model_arguments(parser: argparse.ArgumentParser, params: dict) -> None:
    """--arch, --size and --batch, defaulting to the default run's training (params.yaml's `train`)."""
    parser.add_argument("--arch", default="resnet50v2")
    parser.add_argument("--size", type=int, default=params["train"]["image_size"])
    parser.add_argument("--batch", type=int, default=params["train"]["batch_size"])


def machine() -> str:
    """CPU model and the cores this process may use, e.g. `Intel(R) Xeon(R) Processor, 2 cores`."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {len(os.sched_getaffinity(0))} cores"


def table(rows: list[dict]) -> str:
    """The Markdown table. Rows from one machine get it in the first line; rows measured on more
    than one (e.g. a single benchmark rerun on another CPU kind) name theirs in a column instead."""
    machines = sorted({row.get("machine", UNRECORDED) for row in rows})
    if len(machines) <= 1:
        head = [f"Machine: {machines[0] if machines else machine()}"]
        cols = ["benchmark", "figure (median, IQR, 95% CI of the median)", "goal", "verdict"]
    else:
        head = [f"Machines: {'; '.join(machines)} (each row names its own)"]
        cols = ["benchmark", "figure (median, IQR, 95% CI of the median)", "goal", "verdict", "machine, date"]
    lines = [*head, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        cells = [row["benchmark"], row["figure"], row["goal"], row["verdict"]]
        if len(machines) > 1:
            cells.append(f"{row.get('machine', UNRECORDED)}, {row.get('date', 'date not recorded')}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description="Print the benchmarks' table from their rows, and write it.")
    p.add_argument("rows", type=Path, help="the JSON-lines file the benchmarks' --results appended to")
    p.add_argument("out", type=Path, nargs="?", help="also write the Markdown table here (bench/results.md)")
    args = p.parse_args()
    text = table([json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()])
    print(text, end="")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
