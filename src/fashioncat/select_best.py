"""Choosing among trained architectures by validation accuracy (Table 1), from their metrics files alone."""

from __future__ import annotations

from pathlib import Path

from fashioncat import paper
from fashioncat.errors import FashionError
from fashioncat.io import read_json


def comparison(metrics_dir: Path, architectures: list[str]) -> dict:
    """Table 1 as this run saw it: each architecture's figures, the paper's, and the winner by val accuracy."""
    rows = {}
    for name in architectures:
        path = metrics_dir / f"{name}.json"
        if not path.is_file():
            raise FashionError(f"{path}: no training metrics for {name} (run `dvc repro train@{name}`)")
        m = read_json(path)
        rows[name] = {
            "val_accuracy": m["val_accuracy"],
            "val_f1_macro": m["val_f1_macro"],
            "fit_seconds": m["fit_seconds"],
            "paper_accuracy": paper.TABLE1_ACCURACY.get(name),
        }
    best = max(rows, key=lambda n: (rows[n]["val_accuracy"], -architectures.index(n)))
    return {"best": best, "selected_by": "val_accuracy", "architectures": rows}
