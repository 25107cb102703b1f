"""metrics/report.md: the paper's Tables 1-6 beside this run's values, readable on its own.

Paper columns come from `paper`; ours from the stages' metrics files, so the
report is regenerated whenever a result changes. Every sentence that states a
result is computed from the file it describes.

The report is also where the documentation site gets its figures of the committed
run: each part sits between snippet markers (`<!-- --8<-- [start:NAME] -->`), and a
page includes it as `--8<-- "metrics/report.md:NAME"`, so no page retypes a number.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from fashioncat import paper
from fashioncat.contracts import STEPS
from fashioncat.io import read_json
from fashioncat.reporting import run_summary

TITLES = {
    "augmentation": "Table 2: image augmentation (each knob swept on its own, in order, best kept)",
    "initializer": "Table 3 (left): initializer",
    "optimizer": "Table 3 (right): optimizer",
    "lr_regularizer": "Table 4 (left): learning rate x regularizer",
    "lr_decay": "Table 4 (right): learning rate x decay",
}


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


_table = run_summary.table

CHANCE = 0.1  # ten classes, as in the embedded data and the paper


def at_chance(t1: dict, live_dir: Path | None) -> list[str]:
    """Why an architecture scored chance, from its last epoch's losses (`dvclive/train/<arch>/metrics.json`)."""
    lines = []
    for name, r in t1["architectures"].items():
        live = live_dir / name / "metrics.json" if live_dir else None
        if r["val_accuracy"] > CHANCE + 0.01 or live is None or not live.is_file():
            continue
        last = read_json(live)
        lines.append(
            f"{name} scored chance: after its last epoch its training loss was {last['train']['loss']:.2f} and its"
            f" validation loss {last['val']['loss']:.2f}, no lower than a uniform guess over ten classes"
            f" ({math.log(1 / CHANCE):.2f}) plus the kernel penalty, so it had not started to learn in this budget."
            " The results page of the docs gives the `-S` that makes it learn."
        )
    return lines


def table1(t1: dict, hyper, overrides: dict, live_dir: Path | None = None) -> list[str]:
    """Table 1 beside the paper's, each under its own configuration (they differ: see the departures)."""
    rows = [
        [name, _pct(r["val_accuracy"]), _pct(r["paper_accuracy"]), f"{r['fit_seconds']:.0f}"]
        for name, r in t1["architectures"].items()
    ]
    ours = {key: getattr(hyper, key) for key in paper.TABLE1_CONFIG if hasattr(hyper, key)}
    changes = {name: {k: v for k, v in dataclasses.asdict(o).items() if v is not None} for name, o in overrides.items()}
    per_architecture = "".join(
        f"; {name}: " + ", ".join(f"{k} {v}" for k, v in kv.items()) for name, kv in changes.items() if kv
    )
    ranked = sorted(t1["architectures"].items(), key=lambda item: -item[1]["val_accuracy"])
    gap = (
        f" It leads {ranked[1][0]} by {100 * (ranked[0][1]['val_accuracy'] - ranked[1][1]['val_accuracy']):.1f} points."
        if len(ranked) > 1
        else ""
    )
    return [
        "## Table 1: architectures",
        "",
        f"This run: {', '.join(f'{k} {v}' for k, v in ours.items())}, augmentation none{per_architecture}.",
        f"Paper: {', '.join(f'{k} {v}' for k, v in paper.TABLE1_CONFIG.items())}.",
        "",
        *_table(["model", "val accuracy", "paper accuracy", "fit s"], rows),
        "",
        f"Selected by validation accuracy: **{t1['best']}** (paper: resnet50v2).{gap}",
        "",
        *[part for line in at_chance(t1, live_dir) for part in (line, "")],
    ]


SETTING_SKIP = ("val_accuracy", "paper_accuracy", "fit_seconds", "epochs", "failed", "carried_from")


def _setting(trial: dict) -> str:
    return ", ".join(f"{k} {trial[k]}" for k in trial if k not in SETTING_SKIP)


def margin(m: dict) -> float | None:
    """The best trial's validation accuracy minus that of the best trial with another setting."""
    scored = sorted(
        (t for t in m["trials"] if not t["failed"] and t["val_accuracy"] is not None),
        key=lambda t: -t["val_accuracy"],
    )
    if not scored:
        return None
    # A repeat of the best configuration (the augmentation sweep meets it in every round) scores
    # exactly the same, being the same trial; anything scoring differently is another configuration.
    rivals = [t for t in scored if t["val_accuracy"] != scored[0]["val_accuracy"]]
    return round(scored[0]["val_accuracy"] - rivals[0]["val_accuracy"], 4) if rivals else None


def verdict(step_margin: float | None, noise: dict | None) -> str:
    """Whether a step's pick stands out from the seed-to-seed spread of one trial, in words."""
    if step_margin is None:
        return "No runner-up to compare with."
    if not noise or noise.get("spread") is None:
        return f"Margin over the runner-up: {100 * step_margin:.1f} points (no noise band measured)."
    spread = noise["spread"]
    where = (
        "**within seed noise**: another seed could have picked otherwise"
        if step_margin <= spread
        else ("outside seed noise")
    )
    return (
        f"Margin over the runner-up: {100 * step_margin:.1f} points; one configuration's seed-to-seed spread at "
        f"this budget: {100 * spread:.1f} points ({len(noise['seeds'])} seeds). The pick is {where}."
    )


def tuning_step(step: str, m: dict, noise: dict | None = None) -> list[str]:
    rows = []
    for t in m["trials"]:
        ours = f"failed: {t['failed']}" if t["failed"] else _pct(t["val_accuracy"])
        fit = "–" if t["fit_seconds"] is None else f"{t['fit_seconds']:.0f}"
        rows.append([_setting(t), ours, _pct(t["paper_accuracy"]), fit])
    carried = [
        f"{_setting(t)}: not trained again; its score is the {t['carried_from']} step's "
        "(same configuration, data, budget and seed)."
        for t in m["trials"]
        if t.get("carried_from")
    ]
    chosen = ", ".join(f"{k} {v}" for k, v in m["chosen"].items())
    return [
        f"## {TITLES[step]}",
        "",
        *_table(["trial", "val accuracy", "paper accuracy", "fit s"], rows),
        "",
        *carried,
        f"Chosen: **{chosen}** ({m['trials_run']} trials trained, {m['trials_failed']} failed).",
        verdict(margin(m), noise),
        "",
    ]


def signal_share(steps: dict[str, dict], floor: float = 0.2) -> tuple[int, int]:
    """(trials at or above `floor`, trials counted): trained trials, leaving out the zeros initializer and failures."""
    counted = [
        t
        for m in steps.values()
        for t in m["trials"]
        if not t["failed"] and t["val_accuracy"] is not None and t.get("initializer") != "zeros"
    ]
    return sum(t["val_accuracy"] >= floor for t in counted), len(counted)


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
        f"{final_m['architecture']} with the chosen configuration, {final_m['epochs']} epochs on the whole train split"
        f" at learning rate {final_m['learning_rate']:g} ({final_m['fit_seconds']:.0f} s of training); validation"
        f" accuracy after the last epoch {_pct(final_m['val_accuracy'])}. Paper: {_pct(paper.FINAL_ACCURACY)} test"
        " accuracy.",
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
            r["epochs"] if r["epochs"] else "–",
            f"{r['fit_seconds']:.0f}",
        ]
        for name, r in summary["experiments"].items()
    ]
    return [
        "## Table 6: transfer to the target dataset (ours / paper)",
        "",
        *_table(["experiment", "precision", "recall", "F1", "accuracy", "epochs", "fit s"], rows),
        "",
        f"Time saved by fine-tuning the whole model instead of training from scratch: "
        f"{_pct(summary['time_saved'])} (paper {_pct(summary['paper_time_saved'])}); accuracy difference "
        f"{100 * summary['accuracy_gap']:+.1f} points (paper {100 * summary['paper_accuracy_gap']:+.1f}).",
        f"By accuracy: {_order(summary, 'accuracy')} (paper: {_order(summary, 'paper_accuracy')}).",
        "",
    ]


def _order(summary: dict, key: str) -> str:
    """The experiments from least to most accurate by `key`, ties joined by '='."""
    ranked = sorted(summary["experiments"].items(), key=lambda item: item[1][key])
    text = ranked[0][0]
    for (_, before), (name, r) in zip(ranked, ranked[1:]):
        text += f" {'=' if r[key] == before[key] else '<'} {name}"
    return text


def _final_recipe(final) -> str:
    """The final model's training and scoring additions the paper did not use, one sentence, or ""."""
    parts = [
        f"label smoothing {final.label_smoothing:g}" if final.label_smoothing else "",
        "a moving average of the weights (kept at the end)" if final.ema else "",
        "scores averaged over each image and its mirror" if final.flip_tta else "",
    ]
    named = [p for p in parts if p]
    return f" Added: {'; '.join(named)} (paper: none of these)." if named else ""


def _paper_rate_in_this_run(steps: dict[str, dict] | None) -> str:
    """What Table 1's paper learning rate scored where this run's tuning tried it, in words ('' if it did not)."""
    rate = paper.TABLE1_CONFIG["learning_rate"]
    trials = [t for t in (steps or {}).get("lr_regularizer", {}).get("trials", []) if t.get("learning_rate") == rate]
    scored = [t for t in trials if not t["failed"] and t["val_accuracy"] is not None]
    if not trials:
        return ""
    best = max((t["val_accuracy"] for t in scored), default=None)
    failed = len(trials) - len(scored)
    said = f"; in this run's learning rate x regularizer step it scored at best {_pct(best)}" if scored else ""
    return said + (f"; {failed} of its trials failed" if failed else "")


def _retraining(name: str, settings) -> str:
    if settings.tuned:
        return f"{name} retrains with the tuned optimizer, learning rate and decay (as the paper)"
    return (
        f"{name} retrains with {settings.optimizer} at {settings.learning_rate:g}, decay {settings.decay:g}"
        " (paper: the tuned settings)"
    )


def departures(cfg, steps: dict[str, dict] | None = None) -> list[str]:
    """Each place this run's parameters depart from the paper, with both values (a config or its Declared view).

    `steps`, the tuning steps' details, lets the Table 1 line say what the paper's rate scored here.
    """
    train, trial, grids = cfg.train, cfg.tune.trial, cfg.tune.grids
    source, target = cfg.datasets["source"], cfg.datasets["target"]
    overrides = {name: {k: v for k, v in vars(o).items() if v is not None} for name, o in train.architectures.items()}
    overrides = {name: o for name, o in overrides.items() if o}
    return [
        "## How this run differs from the paper",
        "",
        "Every departure is a parameter in `params.yaml`, commented with the paper's value;"
        " `python -m fashioncat profile paper` sets them back.",
        "",
        f"- Data: {source.per_class} images per class from the source and {target.per_class} from the target"
        f" (paper: 5,000 each), at {train.image_size} px (paper: 224). The embedded target departs from the source"
        f" look by `embedded.target_shift` = {cfg.embedded.target_shift} (1: full colour backgrounds and small"
        " garments, where the source model scores chance).",
        f"- Table 1: learning rate {train.hyper.learning_rate} (paper: {paper.TABLE1_CONFIG['learning_rate']}"
        f"{_paper_rate_in_this_run(steps)}), L1 strength {train.hyper.l1} (paper: not given),"
        f" {train.epochs} epoch(s) on {train.subset or 'all'} training images per architecture (paper: full"
        f" training), batch-normalisation momentum {train.batch_norm_momentum} (paper: Keras' 0.99),"
        f" precision {train.precision}{' (float32 without a GPU, mixed_float16 on one)' * (train.precision == 'auto')}"
        " (paper: float32)." + (f" Per-architecture overrides: {overrides}." if overrides else ""),
        f"- Tuning: each trial trained {trial.epochs} epochs on {trial.subset or 'all'} training images and was"
        f" scored on {trial.val_subset or 'all'} validation images (paper: full trainings, the whole splits);"
        " trial accuracies rank configurations, they are not final accuracies. Grids are"
        f" subsets of the paper's: rotation {grids.augmentation.rotation}, shear {grids.augmentation.shear}, zoom"
        f" {grids.augmentation.zoom}, initializers {grids.initializer.initializer}; learning rates"
        f" {grids.lr_regularizer.learning_rate} (paper: 0.01, 0.1, 1), regularizers"
        f" {grids.lr_regularizer.regularizer}, decays {grids.lr_decay.decay}.",
        f"- Final model: {cfg.final.epochs} epochs (paper: not stated) at batch {cfg.final.batch_size} (paper: 32)"
        + (
            f", the tuned learning rate times {cfg.final.learning_rate_scale:g} (paper: as tuned)"
            if cfg.final.learning_rate_scale != 1
            else ""
        )
        + (
            f", stopping when validation loss has not improved for {cfg.final.patience} epochs and keeping the"
            " epoch with the lowest."
            if cfg.final.patience
            else "."
        )
        + (
            " The learning rate falls along a half cosine to zero over those epochs, on top of the tuned decay"
            " (paper: the tuned decay alone)."
            if cfg.final.anneal
            else ""
        )
        + _final_recipe(cfg.final),
        f"- Transfer: every trained experiment stops when validation loss has not improved for"
        f" {cfg.finetune.patience} epochs by more than {cfg.finetune.min_delta}, at most {cfg.finetune.epochs}"
        " (paper: not stated); "
        + "; ".join(_retraining(name, getattr(cfg.finetune, name)) for name in ("last_layer", "whole_model"))
        + ".",
        "",
    ]


SECTIONS = (
    "intro",
    "data",
    "table1",
    "tuning",
    "table5",
    "final",
    "epochs",
    "table6",
    "label_issues",
    "time",
    "departures",
)


def marked(name: str, lines: list[str]) -> list[str]:
    """`lines` between the snippet markers that let a docs page include them as `metrics/report.md:<name>`."""
    return [f"<!-- --8<-- [start:{name}] -->", *lines, f"<!-- --8<-- [end:{name}] -->", ""]


def markdown(
    metrics_dir: Path,
    cfg,
    live_dir: Path | None = None,
    final_live: Path | None = None,
    label_issues_csv: Path | None = None,
) -> str:
    """The whole report from the details folder (metrics/details) and the curves and lists beside it.

    `live_dir`: Table 1's DVCLive folders (why an architecture scored chance); `final_live`: the
    final model's (its accuracy per epoch); `label_issues_csv`: the ranked likely label errors.
    Without one of them its part says so.
    """
    d = Path(metrics_dir)
    steps = {s: read_json(d / "tune" / f"{s}.json") for s in STEPS}
    noise = read_json(d / "tune" / "noise.json") if (d / "tune" / "noise.json").is_file() else None
    reports = run_summary.stage_reports(d)
    final_m = read_json(d / "final.json")
    above, counted = signal_share(steps)
    tuning = [
        "## Tuning (Tables 2-4)",
        "",
        f"{above} of {counted} scored trials reach 20% validation accuracy (chance: 10%; trials with the zeros"
        " initializer and failed trials left out).",
        "",
    ]
    for step in STEPS:
        tuning += tuning_step(step, steps[step], noise)
    parts = {
        "intro": [
            "# Tzikas et al., reproduced: the paper's tables beside this run",
            "",
            "Generated by `dvc repro report` from the files under `metrics/details/`; the paper's figures are copied"
            " from the paper. Table 1 and the tuning trials are scored on the source **validation** split, the final"
            " model on the source **test** split, Table 6 on the target **test** split.",
        ],
        "data": ["## The data", "", *run_summary.data_section(reports)],
        "table1": table1(read_json(d / "table1.json"), cfg.train.hyper, cfg.train.architectures, live_dir)[:-1],
        "tuning": tuning[:-1],
        "table5": table5(final_m)[:-1],
        "final": final(final_m, read_json(d / "evaluate.json"))[:-1],
        "epochs": [
            "### The final model, epoch by epoch (accuracy)",
            "",
            *(run_summary.epochs_section(final_live) if final_live else ["No per-epoch curves were given."]),
        ],
        "table6": table6(read_json(d / "finetune" / "summary.json"))[:-1],
        "label_issues": [
            "## Likely label errors (source test split)",
            "",
            *(
                run_summary.label_issues_section(read_json(d / "label_issues.json"), Path(label_issues_csv))
                if label_issues_csv
                else ["No list of label issues was given."]
            ),
        ],
        "time": ["## Time", "", *run_summary.time_section(reports)],
        "departures": departures(cfg, steps)[:-1],
    }
    return "\n".join(line for name in SECTIONS for line in marked(name, parts[name])).rstrip("\n")
