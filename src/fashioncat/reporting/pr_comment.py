"""A pull request's comment: the metrics, params and plots that changed against a base revision.

`dvc metrics diff --json` and `dvc params diff --json` give the data; the Markdown is
rendered here rather than by `--md`, so the comment's columns stay ours and stable
across DVC versions. Each numeric change is read against the seed-noise band in
`metrics/noise_band.json` (see `noise_band`): within it, the change is what a new
seed alone would give. Run as `python -m fashioncat.reporting.pr_comment --base main [--out report.md]`
(or `make report BASE=main`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from fashioncat.errors import FashionError
from fashioncat.reporting import machines
from fashioncat.reporting.noise_band import budget_digest, read_band

# Always shown when present: Table 1 and the confusion matrix are what a reviewer looks at.
KEY_PLOTS = ("plots/1_table1/table1.png", "plots/3_final/confusion.png")
# Wall times change on every run; listing them would bury the metrics that matter.
DEFAULT_IGNORE = r"_seconds$"
# GitHub refuses comments over 65536 characters; a data change can touch hundreds of counts.
DEFAULT_MAX_ROWS = 150
MISSING = "—"


@dataclass(frozen=True)
class Row:
    path: str
    key: str
    old: object
    new: object

    @property
    def changed(self) -> bool:
        return self.old != self.new

    @property
    def change(self) -> str:
        if self.old is None:
            return "new"
        if self.new is None:
            return "removed"
        if _number(self.old) and _number(self.new):
            return _signed(self.new - self.old) if self.changed else "0"
        return "changed" if self.changed else ""


@dataclass(frozen=True)
class Report:
    base: str
    metrics: list[Row]
    params: list[Row]
    plots: list[str]
    ignored: int  # metric rows left out by the ignore pattern
    band: dict | None = None  # metrics/noise_band.json, if measured
    band_stale: bool = False  # measured under other parameters than the current ones
    base_cpu: frozenset[str] = frozenset()  # the CPU kinds the base's run was made on (from its reports)
    head_cpu: frozenset[str] = frozenset()  # and this branch's

    @property
    def across_cpus(self) -> bool:
        """Whether the two runs were made on different CPU kinds (both known)."""
        return bool(self.base_cpu) and bool(self.head_cpu) and self.base_cpu != self.head_cpu

    @property
    def band_spans_cpus(self) -> bool:
        """Whether the band was measured on every CPU kind the two runs were made on."""
        return self.band is not None and (self.base_cpu | self.head_cpu) <= set(self.band.get("cpu_kinds", []))


def verdict(row: Row, band: dict | None, *, across_cpus: bool = False, band_spans_cpus: bool = False) -> str:
    """Whether a numeric change is larger than the noise the band measured, in words.

    Runs made on two CPU kinds are judged only against a band measured on both: the CPU model
    alone moves short trainings by more than a new seed does.
    """
    if band is None or not row.changed or not (_number(row.old) and _number(row.new)):
        return ""
    if across_cpus and not band_spans_cpus:
        return "other CPU kind: no band spans both"
    width = band["band"].get(f"{row.path}:{row.key}")
    if width is None:
        return "no band measured"
    inside = abs(row.new - row.old) <= width + 1e-9  # the band is rounded to 6 decimals
    noise = "seed and CPU noise" if across_cpus else "seed noise"
    return f"{'within' if inside else 'outside'} {noise} (±{width:.3g})"


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _signed(delta: float) -> str:
    # Float subtraction leaves noise such as 0.09999999999999998; 6 significant digits hide it.
    return "+0" if delta == 0 else f"{delta:+.6g}"


def _cell(value) -> str:
    if value is None:
        return MISSING
    # round() rather than a format: 1.0 stays "1.0", so a float metric still reads as one
    text = str(round(value, 6)) if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def dvc_json(repo: Path, *args: str) -> dict:
    """Run `dvc <args> --json` with this interpreter's DVC; a failure becomes a FashionError."""
    done = subprocess.run([sys.executable, "-m", "dvc", *args, "--json"], cwd=repo, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[0].removeprefix("ERROR: ") if lines else "failed"
        raise FashionError(f"dvc {' '.join(args)}: {reason}")
    return json.loads(done.stdout or "{}")


def rows(diff: dict) -> list[Row]:
    """Flatten DVC's {path: {key: {old, new}}} into rows sorted by path and key."""
    return sorted(
        (Row(path, key, v.get("old"), v.get("new")) for path, entries in diff.items() for key, v in entries.items()),
        key=lambda r: (r.path, r.key),
    )


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)


def changed_plots(repo: Path, base: str) -> list[str]:
    """KEY_PLOTS that exist, then every other PNG under plots/ that differs from `base`'s."""
    present = sorted(p.relative_to(repo).as_posix() for p in (repo / "plots").rglob("*.png"))
    others = [p for p in present if p not in KEY_PLOTS and _differs(repo, base, p)]
    return [p for p in KEY_PLOTS if p in present] + others


def _differs(repo: Path, base: str, path: str) -> bool:
    # Blob ids compare content without reading both files; a path missing at base is new.
    old = _git(repo, "rev-parse", "--verify", "--quiet", f"{base}:{path}")
    new = _git(repo, "hash-object", path)
    return old.returncode != 0 or old.stdout.strip() != new.stdout.strip()


def build(repo: Path, base: str, ignore: str = DEFAULT_IGNORE) -> Report:
    """Collect everything the comment shows; unchanged metric rows are kept for counting."""
    try:
        pattern = re.compile(ignore or "(?!)")  # "(?!)" never matches: nothing ignored
    except re.error as exc:
        raise FashionError(f"--ignore {ignore!r}: {exc}") from None
    metrics = rows(dvc_json(repo, "metrics", "diff", base, "--all"))
    kept = [r for r in metrics if not pattern.search(r.key)]
    params = [r for r in rows(dvc_json(repo, "params", "diff", base)) if r.changed]
    # the base's band: it is what the base's numbers were measured against, and a branch cannot
    # widen the band it is judged by; a branch that brings the first band uses its own
    band = read_band(repo, base) or read_band(repo)
    stale = band is not None and band.get("budget_digest") != _current_budget(repo)
    cpus = frozenset(machines.kinds_at(repo, base)), frozenset(machines.kinds_at(repo))
    return Report(base, kept, params, changed_plots(repo, base), len(metrics) - len(kept), band, stale, *cpus)


def _current_budget(repo: Path) -> str:
    return budget_digest(yaml.safe_load((repo / "params.yaml").read_text()))


def _table(header: list[str], body: list[list[str]], max_rows: int) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body[:max_rows]]
    if len(body) > max_rows:
        lines += ["", f"… and {len(body) - max_rows} more rows (run `make report` locally for all)."]
    return lines


def _metrics_section(report: Report, show_all: bool, max_rows: int) -> list[str]:
    changed = [r for r in report.metrics if r.changed]
    unchanged = len(report.metrics) - len(changed)
    if not report.metrics:
        return ["No metrics on either side."]
    note = f"{len(changed)} changed, {unchanged} unchanged"
    if report.ignored:
        note += f", {report.ignored} wall-time entries left out"
    if all(r.old is None for r in report.metrics):
        note += f"; `{report.base}` has no metrics yet"
    shown = report.metrics if show_all else changed
    if not shown:
        return [f"No metric changed ({note})."]
    spans = {"across_cpus": report.across_cpus, "band_spans_cpus": report.band_spans_cpus}
    body = [[r.path, r.key, _cell(r.old), _cell(r.new), r.change, verdict(r, report.band, **spans)] for r in shown]
    header = ["path", "metric", "old", "new", "change", "vs noise"]
    return [note + ".", "", *_cpu_note(report), *_band_note(report), *_table(header, body, max_rows)]


def _cpu_note(report: Report) -> list[str]:
    """Which comparison this is: the CPU kinds of the two runs, and what that means for the verdicts."""
    if not report.base_cpu or not report.head_cpu:
        return ["The CPU kind of one side is not recorded (its reports predate the `machine` field).", ""]
    base, head = "; ".join(sorted(report.base_cpu)), "; ".join(sorted(report.head_cpu))
    if not report.across_cpus:
        return [f"Compared on the same CPU kind: {head}.", ""]
    text = f"Compared across CPU kinds: `{report.base}` ran on {base}, this branch on {head}."
    if report.band_spans_cpus:
        text += " The band was measured on both, so it holds the CPU's spread as well as the seed's."
    else:
        text += (
            " The CPU model alone moves short trainings by more than a new seed does, and no band spans"
            " both kinds: reproduce the base on this runner's CPU kind, or measure a band on both."
        )
    return [text, ""]


def _band_note(report: Report) -> list[str]:
    if report.band is None:
        return ["No seed-noise band is measured yet (`make noise-band`): changes cannot be told from noise.", ""]
    runs = ", ".join(str(r["seed"]) for r in report.band["runs"])
    text = f"Noise band: the range of each metric over {len(report.band['runs'])} runs with seeds {runs}"
    text += f", on {'; '.join(report.band['cpu_kinds'])}." if report.band.get("cpu_kinds") else "."
    if report.band_stale:
        text += " **It was measured under other parameters than this branch's: measure it again.**"
    return [text, ""]


def _params_section(report: Report, max_rows: int) -> list[str]:
    if not report.params:
        return ["No param changed."]
    body = [[r.path, r.key, _cell(r.old), _cell(r.new)] for r in report.params]
    return _table(["path", "param", "old", "new"], body, max_rows)


def render(report: Report, *, show_all: bool = False, max_rows: int = DEFAULT_MAX_ROWS, image_root: str = "") -> str:
    """The Markdown comment; images are linked relative to `image_root` (the comment file's folder)."""
    lines = [
        f"## Metrics against `{report.base}`",
        "",
        *_metrics_section(report, show_all, max_rows),
        "",
        "## Params",
        "",
        *_params_section(report, max_rows),
    ]
    if report.plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{p}]({Path(image_root, p).as_posix() if image_root else p})" for p in report.plots]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="main", help="git revision to compare with (default: main)")
    p.add_argument("--out", help="write the Markdown here instead of stdout")
    p.add_argument("--repo", default=".", help="the DVC repository (default: .)")
    p.add_argument("--all", action="store_true", help="list unchanged metrics too")
    p.add_argument(
        "--ignore",
        default=DEFAULT_IGNORE,
        help=f"regex of metric keys to leave out ('' keeps all; default: {DEFAULT_IGNORE})",
    )
    p.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS, help="rows per table at most")
    args = p.parse_args(argv)
    repo = Path(args.repo).resolve()
    try:
        report = build(repo, args.base, args.ignore)
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.out:
        sys.stdout.write(render(report, show_all=args.all, max_rows=args.max_rows))
        return 0
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    root = os.path.relpath(repo, out.parent)
    out.write_text(render(report, show_all=args.all, max_rows=args.max_rows, image_root="" if root == "." else root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
