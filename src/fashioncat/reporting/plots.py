"""PNG figures for the evaluation report, written atomically like every other output.

The Agg backend is chosen before pyplot is imported so the stages run on
machines without a display (CI, the DVC runner).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fashioncat.io import atomic_path  # noqa: E402

DPI = 110


def _save(fig, path: str | os.PathLike) -> None:
    """Write `fig` as PNG via a temp file and always close it, so figures never pile up in long runs."""
    try:
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI)
    finally:
        plt.close(fig)


def confusion_png(matrix: np.ndarray, classes: Sequence[str], path, title: str) -> None:
    """Heatmap coloured by row share (recall per class) so small classes stay visible; cells show raw counts."""
    matrix = np.asarray(matrix)
    n = len(classes)
    if matrix.shape != (n, n):
        raise ValueError(f"confusion matrix shape {matrix.shape} does not match {n} classes")
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
    side = max(4.0, 0.55 * n + 2.0)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    ax.set_xticks(range(n), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fontsize = 9 if n <= 12 else 7
    for i in range(n):
        for j in range(n):
            colour = "white" if shares[i, j] > 0.5 else "black"
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=colour, fontsize=fontsize)
    _save(fig, path)


def bar_png(
    values: Mapping[str, float], path, title: str, ylabel: str, reference: Mapping[str, float] | None = None
) -> None:
    """Bars per name with their values; `reference` (e.g. the paper's figures) is drawn alongside to compare."""
    names = list(values)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(names) + 2.0), 4.5))
    if reference is None:
        bars = ax.bar(x, [values[k] for k in names], color="tab:blue")
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
    else:
        width = 0.4
        ours = ax.bar(x - width / 2, [values[k] for k in names], width, label="this run", color="tab:blue")
        # names missing from the reference get no paper bar rather than a misleading zero
        theirs = ax.bar(
            x + width / 2, [reference.get(k, np.nan) for k in names], width, label="paper", color="tab:orange"
        )
        ax.bar_label(ours, fmt="%.3g", fontsize=8)
        ax.bar_label(theirs, labels=[f"{reference[k]:.3g}" if k in reference else "" for k in names], fontsize=8)
        ax.legend()
    ax.set_xticks(x, labels=names, rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.margins(y=0.12)
    _save(fig, path)


def curves_png(history: Mapping[str, Sequence[float]], path, title: str, ylabel: str = "value") -> None:
    """One line per series (loss, val_loss, ...) over epochs, numbered from 1 as Keras reports them."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, series in history.items():
        ax.plot(range(1, len(series) + 1), list(series), marker="o", markersize=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if history:
        ax.legend()
    _save(fig, path)


def contact_sheet_png(pictures: Sequence[np.ndarray], captions: Sequence[str], path, title: str) -> None:
    """Images in a near-square grid, each with its caption beneath; with none, a sheet that says so.

    Pixels are shown as stored (nearest-neighbour, no smoothing) so a reviewer judges what the model saw.
    """
    if len(pictures) != len(captions):
        raise ValueError(f"{len(pictures)} images but {len(captions)} captions")
    cols = max(1, int(np.ceil(np.sqrt(len(pictures)))))
    rows = max(1, int(np.ceil(len(pictures) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols + 0.4, 2.6 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, picture, caption in zip(axes.flat, pictures, captions):
        ax.imshow(picture, interpolation="nearest")
        ax.set_title(caption, fontsize=8)
    if not len(pictures):
        axes[0, 0].text(0.5, 0.5, "nothing to show", ha="center", va="center", fontsize=11)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def tradeoff_png(
    ours: Mapping[str, tuple[float, float]],
    paper: Mapping[str, tuple[float, float]],
    path,
    title: str,
    xlabels: tuple[str, str] = ("fit time (minutes)", "training time (hours)"),
) -> None:
    """Accuracy against training time, this run beside the paper on its own axes (their time units differ).

    Same colour for the same name in both panels, so each experiment is followed across them.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.5), sharey=True)
    colours = {name: f"C{i}" for i, name in enumerate(dict.fromkeys([*ours, *paper]))}
    for ax, points, label, xlabel in zip(axes, (ours, paper), ("this run", "paper"), xlabels):
        for name, (x, y) in points.items():
            ax.scatter([x], [y], s=45, color=colours[name])
            ax.annotate(f"{name}\n{y:.1%}", (x, y), textcoords="offset points", xytext=(6, -4), fontsize=8)
        ax.set_title(label)
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        ax.margins(0.25)
    axes[0].set_ylabel("accuracy")
    fig.suptitle(title)
    _save(fig, path)


def trials_png(step: str, trials: Sequence[Mapping], path) -> None:
    """A tuning step's trials as the paper tabulates them, ours beside the paper's accuracy.

    One-key trials (Tables 2 and 3) are bar panels, one per key; two-key grids
    (Table 4) are a heat map, cells reading "ours (paper)". A failed trial shows
    as "failed" instead of a bar or number.
    """
    if trials and len(_trial_keys(trials[0])) == 2:
        _grid_heatmap(step, trials, path)
        return
    keys = list(dict.fromkeys(_trial_keys(t)[0] for t in trials))
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys) + 1.0, 4.2), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        rows = [t for t in trials if _trial_keys(t) == [key]]
        x = np.arange(len(rows))
        ours = [t["val_accuracy"] if t["val_accuracy"] is not None else 0.0 for t in rows]
        paper = [t["paper_accuracy"] if t["paper_accuracy"] is not None else np.nan for t in rows]
        bars = ax.bar(x - 0.2, ours, 0.4, label="this run (val)", color="tab:blue")
        ax.bar_label(bars, labels=["failed" if t["failed"] else f"{t['val_accuracy']:.2f}" for t in rows], fontsize=7)
        ax.bar(x + 0.2, paper, 0.4, label="paper", color="tab:orange")
        ax.set_xticks(x, labels=[str(t[key]) for t in rows], rotation=30 if len(rows) > 4 else 0)
        ax.set_title(key)
        ax.set_ylim(0, 1)
    axes.flat[0].set_ylabel("accuracy")
    axes.flat[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"tune@{step}")
    _save(fig, path)


def _trial_keys(trial: Mapping) -> list[str]:
    fixed = {"val_accuracy", "paper_accuracy", "fit_seconds", "epochs", "failed", "carried_from"}
    return [k for k in trial if k not in fixed]


def _grid_heatmap(step: str, trials: Sequence[Mapping], path) -> None:
    row_key, col_key = _trial_keys(trials[0])
    rows = list(dict.fromkeys(t[row_key] for t in trials))
    cols = list(dict.fromkeys(t[col_key] for t in trials))
    values = np.full((len(rows), len(cols)), np.nan)
    fig, ax = plt.subplots(figsize=(1.8 * len(cols) + 2.0, 1.1 * len(rows) + 1.6))
    for t in trials:
        i, j = rows.index(t[row_key]), cols.index(t[col_key])
        if t["val_accuracy"] is not None:
            values[i, j] = t["val_accuracy"]
        ours = "failed" if t["failed"] else f"{t['val_accuracy']:.2f}"
        paper = f"({t['paper_accuracy']:.2f})" if t["paper_accuracy"] is not None else ""
        ax.text(j, i, f"{ours}\n{paper}", ha="center", va="center", fontsize=9)
    ax.imshow(values, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(cols)), labels=[str(c) for c in cols])
    ax.set_yticks(range(len(rows)), labels=[str(r) for r in rows])
    ax.set_xlabel(col_key)
    ax.set_ylabel(row_key)
    ax.set_title(f"tune@{step}: val accuracy, this run (paper)")
    _save(fig, path)
