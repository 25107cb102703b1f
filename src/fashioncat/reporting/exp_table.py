"""`dvc exp show` narrowed to the columns worth comparing between experiments.

The pipeline records hundreds of metrics (per-class counts of every data stage, per-class
scores) and every param, so the bare table is hundreds of columns wide. `--drop '.*'`
removes every column and `--keep KEEP` protects the few below. DVC matches both with
`re.match` (anchored at the start only, hence the `$`s) against the column's name, which
is the bare key (`accuracy`) while it is unique and `file:key` once two files share it:
the optional `metrics/....json:` prefixes keep the filter working when later stages add
metrics with the same names.

    python -m fashioncat.reporting.exp_table --md --sort-by accuracy --sort-order desc
"""

from __future__ import annotations

import subprocess
import sys

KEEP = "|".join(
    [
        r"Experiment$",
        r"Created$",
        r"State$",  # which run, when, queued/failed
        r"(metrics/table1\.json:)?(best|architectures\.\w+\.val_accuracy)$",  # Table 1
        r"(metrics/evaluate\.json:)?(accuracy|f1_macro|top3_accuracy)$",  # the selected model on test
        r"seed$",
        r"train\.(epochs|batch_size|image_size)$",  # the knobs most often set with -S
        r"train\.hyper\.(optimizer|learning_rate)$",
        r"tune\.trial\.epochs$",
    ]
)


def show_command(*extra: str) -> list[str]:
    """The `dvc exp show` command line with the column filter; `extra` goes after it."""
    return [sys.executable, "-m", "dvc", "exp", "show", "--no-pager", "--drop", ".*", "--keep", KEEP, *extra]


def main(argv: list[str] | None = None) -> int:
    return subprocess.run(show_command(*(sys.argv[1:] if argv is None else argv))).returncode


if __name__ == "__main__":
    sys.exit(main())
