"""The benchmarks' statistics and verdicts (bench/benchstats.py), on values worked out by hand."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import benchstats  # noqa: E402


def test_median_and_quartiles_of_five_rounds():
    s = benchstats.spread([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (s.median, s.q1, s.q3, s.n) == (3.0, 2.0, 4.0, 5)


@pytest.mark.parametrize(
    "n,interval",
    [
        # P(binomial(5, 1/2) = 0) = 1/32 > 2.5%: even [min, max] covers only 94%
        (5, (-math.inf, math.inf)),
        # 1/64 <= 2.5%, but 1/64 + 6/64 is not: [x_(1), x_(6)] (97% coverage)
        (6, (1.0, 6.0)),
        (7, (1.0, 7.0)),  # 1/128 <= 2.5% < 8/128
        (9, (2.0, 8.0)),  # 1/512 + 9/512 = 10/512 <= 2.5% < 46/512: [x_(2), x_(8)]
    ],
)
def test_interval_of_the_median_from_order_statistics(n, interval):
    values = [float(v) for v in range(n, 0, -1)]  # n, ..., 1: unsorted on purpose
    assert benchstats.median_interval(values) == interval


@pytest.mark.parametrize(
    "values,goal,at_least,expected",
    [
        ([3.0] * 6, 3.0, True, "met"),  # exactly at the goal counts as reaching it
        ([3.0] * 6, 3.5, True, "not met"),
        ([3.0] * 5, 2.0, True, "unresolved at this noise"),  # 5 rounds: no 95% interval at all
        ([2.5, 2.9, 3.1, 3.2, 3.3, 3.4], 3.0, True, "unresolved at this noise"),  # [2.5, 3.4] straddles 3
        ([0.01, 0.02, 0.03, 0.04, 0.05, 0.09], 0.10, False, "met"),  # an overhead below 10%
        ([0.12, 0.2, 0.3, 0.3, 0.3, 0.4], 0.10, False, "not met"),
        ([0.05, 0.06, 0.07, 0.08, 0.09, 0.15], 0.10, False, "unresolved at this noise"),
        ([0.10] * 6, 0.10, False, "not met"),  # "< 10%": 10% itself misses
    ],
)
def test_verdict(values, goal, at_least, expected):
    assert benchstats.verdict(benchstats.spread(values), goal, at_least=at_least) == expected


def test_rounds_warm_up_untimed_then_alternate_the_order():
    calls = []

    def side(name, seconds):
        def run():
            calls.append(name)
            return seconds

        return run

    times = benchstats.rounds({"a": side("a", 1.0), "b": side("b", 2.0)}, 3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert times == {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]}
    assert benchstats.ratios([2.0, 6.0], [1.0, 2.0]) == [2.0, 3.0]


def test_rows_become_one_table_with_the_machine(tmp_path):
    rows = tmp_path / "rows.jsonl"
    benchstats.record(None, benchmark="ignored")  # no file given: nothing written
    benchstats.record(str(rows), benchmark="crop", figure="1.50x", goal=">= 1.8x", verdict="not met")
    benchstats.record(str(rows), benchmark="input", figure="3.20x", goal=">= 3.0x", verdict="met")
    assert [json.loads(line)["benchmark"] for line in rows.read_text().splitlines()] == ["crop", "input"]
    text = benchstats.table([json.loads(line) for line in rows.read_text().splitlines()])
    lines = text.splitlines()
    assert lines[0].startswith("Machine: ") and lines[0].endswith(" cores") and len(lines[0]) > len("Machine:  cores")
    assert lines[-2:] == ["| crop | 1.50x | >= 1.8x | not met |", "| input | 3.20x | >= 3.0x | met |"]


def test_rows_from_two_machines_name_each_their_own():
    rows = [
        {"benchmark": "crop", "figure": "1.50x", "goal": ">= 1.8x", "verdict": "not met", "machine": "Intel, 2 cores"},
        {
            "benchmark": "serve",
            "figure": "90/s",
            "goal": "-",
            "verdict": "met",
            "machine": "AMD, 2 cores",
            "date": "2026-12-04",
        },
    ]
    lines = benchstats.table(rows).splitlines()
    assert lines[0] == "Machines: AMD, 2 cores; Intel, 2 cores (each row names its own)"
    assert lines[-2:] == [
        "| crop | 1.50x | >= 1.8x | not met | Intel, 2 cores, date not recorded |",
        "| serve | 90/s | - | met | AMD, 2 cores, 2026-12-04 |",
    ]
