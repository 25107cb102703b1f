"""metrics/report.md: the paper's Tables 1-6 beside this run's values, readable on its own.

Paper columns come from `paper`; ours from the stages' metrics files, so the
report is regenerated whenever a result changes.
"""

from __future__ import annotations

from pathlib import Path

from fashioncat.contracts import STEPS
from fashioncat.io import read_json
from fashioncat.reporting import paper

TITLES = {
    "augmentation": "Table 2: image augmentation (each knob swept on its own, in order, best kept)",
    "initializer": "Table 3 (left): initializer",
    "optimizer": "Table 3 (right): optimizer",
    "lr_regularizer": "Table 4 (left): learning rate x regularizer",
    "lr_decay": "Table 4 (right): learning rate x decay",
}


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def table1(t1: dict) -> list[str]:
    rows = [
        [name, _pct(r["val_accuracy"]), _pct(r["test_accuracy"]), _pct(r["paper_accuracy"]), f"{r['fit_seconds']:.0f}"]
        for name, r in t1["architectures"].items()
    ]
    config = ", ".join(f"{k} {v}" for k, v in paper.TABLE1_CONFIG.items())
    return [
        f"## Table 1: architectures ({config})",
        "",
        *_table(["model", "val accuracy", "test accuracy", "paper accuracy", "fit s"], rows),
        "",
        f"Selected by validation accuracy: **{t1['best']}** (paper: resnet50v2).",
        "",
    ]


def tuning_step(step: str, m: dict) -> list[str]:
    rows = []
    for t in m["trials"]:
        setting = ", ".join(
            f"{k} {t[k]}" for k in t if k not in ("val_accuracy", "paper_accuracy", "fit_seconds", "epochs", "failed")
        )
        ours = f"failed: {t['failed']}" if t["failed"] else _pct(t["val_accuracy"])
        rows.append([setting, ours, _pct(t["paper_accuracy"]), f"{t['fit_seconds']:.0f}"])
    chosen = ", ".join(f"{k} {v}" for k, v in m["chosen"].items())
    return [
        f"## {TITLES[step]}",
        "",
        *_table(["trial", "val accuracy", "paper accuracy", "fit s"], rows),
        "",
        f"Chosen: **{chosen}** ({m['trials_run']} trials trained, {m['trials_failed']} failed).",
        "",
    ]


def table5(choice: dict) -> list[str]:
    ours = {**choice["hyper"], **choice["augment"]}
    rows = [[key, ours.get(key), value] for key, value in paper.TABLE5.items()]
    return ["## Table 5: the chosen configuration", "", *_table(["parameter", "this run", "paper"], rows), ""]


def final(final_m: dict, evaluation: dict) -> list[str]:
    rows = [
        [name, _pct(evaluation[key])]
        for name, key in (
            ("accuracy", "accuracy"),
            ("macro precision", "precision_macro"),
            ("macro recall", "recall_macro"),
            ("macro F1", "f1_macro"),
            ("top-3 accuracy", "top3_accuracy"),
        )
    ]
    return [
        "## The final model (source test split)",
        "",
        f"{final_m['architecture']} with the chosen configuration, {final_m['epochs']} epochs on the whole "
        f"train split ({final_m['fit_seconds']:.0f} s); paper: {_pct(paper.FINAL_ACCURACY)} accuracy.",
        "",
        *_table(["metric", "this run"], rows),
        "",
    ]


def table6(summary: dict) -> list[str]:
    rows = [
        [
            name,
            *(
                f"{_pct(r[m])} / {_pct(r['paper_' + m])}"
                for m in ("precision_macro", "recall_macro", "f1_macro", "accuracy")
            ),
            f"{r['fit_seconds']:.0f}",
        ]
        for name, r in summary["experiments"].items()
    ]
    return [
        "## Table 6: transfer to the target dataset (ours / paper)",
        "",
        *_table(["experiment", "precision", "recall", "F1", "accuracy", "fit s"], rows),
        "",
        f"Time saved by fine-tuning the whole model instead of training from scratch: "
        f"{_pct(summary['time_saved'])} (paper {_pct(summary['paper_time_saved'])}); accuracy difference "
        f"{100 * summary['accuracy_gap']:+.1f} points (paper {100 * summary['paper_accuracy_gap']:+.1f}).",
        "",
    ]


def budget(step: dict, params_note: str) -> list[str]:
    b = step["trial_budget"]
    return [
        "## How this run differs from the paper",
        "",
        f"- Each tuning trial trained {b['epochs']} epochs on {b['train_images']} training images"
        f" (`tune.trial`); the paper trained every trial in full. Trial accuracies rank configurations,"
        f" they are not final accuracies.",
        f"- {params_note}",
        "",
    ]


def markdown(metrics_dir: Path, params_note: str) -> str:
    """The whole report from the metrics folder; a missing input is a FashionError naming it."""
    d = Path(metrics_dir)
    steps = {s: read_json(d / "tune" / f"{s}.json") for s in STEPS}
    lines = [
        "# Tzikas et al., reproduced: the paper's tables beside this run",
        "",
        "Generated by `dvc repro report` from the files under `metrics/`; the paper's figures are copied from"
        " the paper. Ours are validation accuracies for tuning trials and test-split figures elsewhere.",
        "",
    ]
    lines += table1(read_json(d / "table1.json"))
    for step in STEPS:
        lines += tuning_step(step, steps[step])
    final_m = read_json(d / "final.json")
    lines += table5(final_m)
    lines += final(final_m, read_json(d / "evaluate.json"))
    lines += table6(read_json(d / "finetune" / "summary.json"))
    lines += budget(steps["augmentation"], params_note)
    return "\n".join(lines)
