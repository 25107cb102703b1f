"""Table 6: the four transfer experiments side by side, with the paper's figures and the trade-off of fine-tuning."""

from __future__ import annotations

from fashioncat import paper
from fashioncat.contracts import EXPERIMENTS
from fashioncat.contracts import TABLE6_METRICS as METRICS
from fashioncat.errors import FashionError


def summary(results: dict[str, dict]) -> dict:
    """Table 6 with the paper's figures beside ours, and the time/accuracy trade-off of fine-tuning.

    time_saved = 1 - whole_model fit time / scratch fit time (paper: 1 - 8 h / 20 h = 0.6);
    accuracy_gap = whole_model accuracy - scratch accuracy (paper: 0.625 - 0.650 = -0.025).
    """
    missing = [name for name in EXPERIMENTS if name not in results]
    if missing:
        raise FashionError(f"transfer summary: no results for {', '.join(missing)}")
    rows = {
        name: {
            **{m: results[name][m] for m in METRICS},
            **{f"paper_{m}": paper.TABLE6[name][m] for m in METRICS},
            "fit_seconds": results[name]["fit_seconds"],
            "epochs": results[name]["epochs"],
            "diverged": results[name]["diverged"],
        }
        for name in EXPERIMENTS
    }
    whole, scratch_ = results["whole_model"], results["scratch"]
    saved = 1 - whole["fit_seconds"] / scratch_["fit_seconds"] if scratch_["fit_seconds"] > 0 else None
    return {
        "experiments": rows,
        "time_saved": None if saved is None else round(saved, 4),
        "paper_time_saved": paper.TABLE6_TIME_SAVED,
        "accuracy_gap": round(whole["accuracy"] - scratch_["accuracy"], 4),
        "paper_accuracy_gap": round(paper.TABLE6["whole_model"]["accuracy"] - paper.TABLE6["scratch"]["accuracy"], 4),
        "best": max(EXPERIMENTS, key=lambda name: results[name]["accuracy"]),
    }
