"""The parts of the report that describe the run rather than a table of the paper.

What the data stages kept, how long every stage took and on which machine, how the
final model learned epoch by epoch, and how many test images look mislabelled.
Each part reads the files the stages wrote and states only what they hold.
"""

from __future__ import annotations

import csv
from pathlib import Path

from fashioncat.io import read_json

# The order the pipeline runs its parts in, and which stage files belong to each.
PARTS = (
    ("data", ("embed", "download@", "crop@", "balance@", "split@")),
    ("Table 1", ("train@", "select_best")),
    ("seed spread", ("tune_noise",)),
    ("tuning", ("tune@",)),
    ("final model", ("final",)),
    ("evaluation", ("evaluate",)),
    ("transfer", ("finetune@", "finetune_summary")),
    ("bundle and label issues", ("bundle", "label_issues")),
)


def table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def count(value) -> str:
    """An image count with thousands separators; anything else as it is."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def stage_of(relative: Path) -> str | None:
    """The stage that wrote a details file, from its place under metrics/details (None: not a stage's report)."""
    parts = relative.with_suffix("").parts
    if parts[0] == "data" and len(parts) == 2:
        kind, _, dataset = parts[1].partition("_")
        return kind if not dataset else f"{kind}@{dataset}"
    if parts[0] == "train" and len(parts) == 2:
        return f"train@{parts[1]}"
    if parts[0] == "tune" and len(parts) == 2:
        return "tune_noise" if parts[1] == "noise" else f"tune@{parts[1]}"
    if parts[0] == "finetune" and len(parts) == 2:
        return "finetune_summary" if parts[1] == "summary" else f"finetune@{parts[1]}"
    named = {"table1": "select_best", "final": "final", "evaluate": "evaluate"}
    named |= {"bundle": "bundle", "label_issues": "label_issues"}
    return named.get(parts[0]) if len(parts) == 1 else None


def stage_reports(details_dir: Path) -> dict[str, dict]:
    """Every stage's details report under `details_dir`, by stage name, in file order."""
    found = {}
    for path in sorted(Path(details_dir).rglob("*.json")):
        name = stage_of(path.relative_to(details_dir))
        if name is not None:
            found[name] = read_json(path)
    return found


def _part(stage: str) -> str:
    for part, prefixes in PARTS:
        if any(stage == p or (p.endswith("@") and stage.startswith(p)) for p in prefixes):
            return part
    return "other"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def time_section(reports: dict[str, dict]) -> list[str]:
    """Stage seconds by part of the pipeline, and the machines the stages ran on."""
    totals: dict[str, float] = {}
    stages: dict[str, list[str]] = {}
    for name, r in reports.items():
        if isinstance(r.get("stage_seconds"), int | float):
            part = _part(name)
            totals[part] = totals.get(part, 0.0) + r["stage_seconds"]
            stages.setdefault(part, []).append(f"{name} {r['stage_seconds']:.0f} s")
    order = [p for p, _ in PARTS if p in totals] + [p for p in totals if p not in dict(PARTS)]
    rows = [[part, _minutes(totals[part]), ", ".join(stages[part])] for part in order]
    machines = sorted({r["machine"] for r in reports.values() if isinstance(r.get("machine"), str)})
    where = (
        f"The stages ran on {'; '.join(machines)}."
        if machines
        else "The stages' reports of this run do not name the machine (they predate the `machine` field)."
    )
    return [
        f"Stage time, summed from every stage's `stage_seconds`: **{_minutes(sum(totals.values()))}**. "
        "It leaves out DVC's own work and each stage's process start (Python and TensorFlow imports). " + where,
        "",
        *table(["part", "stage time", "stages"], rows),
    ]


def data_section(reports: dict[str, dict]) -> list[str]:
    """What each dataset kept at every data stage, with the reasons for what it dropped."""
    rows = []
    for dataset in sorted({n.partition("@")[2] for n in reports if n.startswith("crop@")}):
        crop, balance = reports[f"crop@{dataset}"], reports.get(f"balance@{dataset}", {})
        split = reports.get(f"split@{dataset}", {}).get("images", {})
        dropped = ", ".join(f"{n} {reason}" for reason, n in crop.get("dropped", {}).items()) or "none"
        per_class = balance.get("per_class", {})
        sizes = sorted({c.get("kept", c) if isinstance(c, dict) else c for c in per_class.values()})
        balanced = f"{count(balance.get('kept', '–'))} ({'/'.join(map(count, sizes)) or '–'} per class)"
        rows.append(
            [
                dataset,
                count(crop.get("in", "–")),
                dropped,
                count(crop.get("kept", "–")),
                balanced,
                " / ".join(count(split.get(s, "–")) for s in ("train", "val", "test")),
            ]
        )
    lines = table(["dataset", "annotated", "dropped at crop", "kept", "balanced", "train / val / test"], rows)
    return lines + short_classes(reports)


def short_classes(reports: dict[str, dict]) -> list[str]:
    """A sentence per dataset whose balanced classes differ in size: which classes were short, and by how much."""
    notes = []
    for name in sorted(n for n in reports if n.startswith("balance@")):
        per_class = {c: v.get("kept", 0) for c, v in reports[name].get("per_class", {}).items()}
        if not per_class or len(set(per_class.values())) == 1:
            continue
        full = max(per_class.values())
        short = ", ".join(f"{c} {count(n)}" for c, n in per_class.items() if n < full)
        notes.append(
            f"In {name.partition('@')[2]}, balancing kept {count(full)} images of most classes, but fewer of {short}:"
            " these classes had no more (`balance.allow_smaller`), and the split stratifies them as they are."
        )
    return ["", *notes] if notes else []


def epochs_section(live_dir: Path) -> list[str]:
    """The final model's validation and training accuracy after every epoch, from its DVCLive curves."""
    series = {}
    for split in ("val", "train"):
        path = Path(live_dir) / "plots" / "metrics" / split / "accuracy.tsv"
        if path.is_file():
            with path.open(encoding="utf-8", newline="") as f:
                series[split] = [float(row["accuracy"]) for row in csv.DictReader(f, delimiter="\t")]
    if not series:
        return ["No per-epoch curves were recorded."]
    epochs = max(len(v) for v in series.values())
    header = ["epoch", *range(1, epochs + 1)]
    rows = [[name, *(f"{v:.3f}" for v in values)] for name, values in (("validation", series.get("val", [])),)]
    rows += [["training", *(f"{v:.3f}" for v in series.get("train", []))]]
    return table([str(h) for h in header], rows)


def label_issues_section(issues: dict, ranked_csv: Path, top: int = 5) -> list[str]:
    """How many test images the final model finds likely mislabelled, and the first few of them."""
    lines = [
        f"{issues['issues']} of the {issues['n']} test images ({100 * issues['share']:.1f}%) look mislabelled to the"
        f" final model (cleanlab's `{issues['method']}`, ranked by {issues['ranked_by'].replace('_', '-')}). The first"
        f" {top} of `{ranked_csv.as_posix()}`:",
        "",
    ]
    with Path(ranked_csv).open(encoding="utf-8", newline="") as f:
        rows = [row for _, row in zip(range(top), csv.DictReader(f))]
    body = [
        [r["rank"], f"`{Path(r['image']).name}`", r["given"], r["suggested"], r["given_label_probability"]]
        for r in rows
    ]
    return lines + table(["rank", "image", "given", "suggested", "probability of the given label"], body)
