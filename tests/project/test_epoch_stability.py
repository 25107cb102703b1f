"""bench/epoch_stability.py's verdict: a slow epoch counts against the code only on an otherwise quiet machine."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import benchstats  # noqa: E402
import epoch_stability  # noqa: E402


def epochs(seconds, others=0.0, slow_others=None):
    rows = [{"seconds": s, "others": others, "steal": 0.0} for s in seconds]
    if slow_others is not None:
        rows[seconds.index(max(seconds))]["others"] = slow_others
    return rows


def test_a_slowest_epoch_within_15_percent_of_the_median_meets_the_goal():
    excess, verdict, slow = epoch_stability.judge(epochs([4.0, 4.1, 4.4, 4.0, 3.9]))
    assert excess == pytest.approx(0.1) and verdict == benchstats.MET and slow == []


def test_a_half_speed_epoch_on_a_quiet_machine_does_not_meet_it():
    excess, verdict, slow = epoch_stability.judge(epochs([4.0, 8.0, 4.0, 4.1, 3.9], slow_others=0.1))
    assert excess == pytest.approx(1.0) and verdict == benchstats.NOT_MET and slow == [2]


def test_a_half_speed_epoch_while_other_work_ran_is_unresolved():
    _, verdict, slow = epoch_stability.judge(epochs([4.0, 8.0, 4.0, 4.1, 3.9], slow_others=1.0))
    assert verdict == benchstats.UNRESOLVED and slow == [2]


def test_epoch_rows_split_the_machines_work_into_ours_and_the_others():
    a, b = epoch_stability.Sample(threads=False), epoch_stability.Sample(threads=False)
    a.wall, a.cpu, a.busy, a.steal = 0.0, 0.0, 0, 0
    b.wall, b.cpu, b.busy, b.steal = 2.0, 3.0, 4 * epoch_stability.TICK, epoch_stability.TICK
    row = epoch_stability.epoch_row(a, b, images=100)
    assert (row["rate"], row["own"], row["others"], row["steal"]) == (50.0, 1.5, 0.5, 0.5)


def test_thread_ticks_count_this_processs_cpu_time():
    before = sum(epoch_stability.thread_ticks().values())
    spin = time.process_time() + 0.3
    while time.process_time() < spin:
        pass
    assert sum(epoch_stability.thread_ticks().values()) - before >= 0.2 * epoch_stability.TICK
