"""A step's finished trials on disk, so an interrupted step resumes, and the scores carried between steps."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from fashioncat.contracts import Choice
from fashioncat.deps import code_digest
from fashioncat.io import read_json, write_json
from fashioncat.model.trials import Trial

SCORE_FIELDS = ("val_accuracy", "epochs", "failed", "train_loss")


def choice_key(choice: Choice) -> str:
    """The memo's key of a configuration."""
    return json.dumps(choice.as_dict(), sort_keys=True)


class Memo:
    """Finished trials by configuration, kept on disk so an interrupted step resumes where it stopped.

    The file is only trusted when its fingerprint (data, budget, seed) matches and it was
    written by the same code (`deps.code_digest`).
    """

    def __init__(self, path: Path, fingerprint: str):
        self.path, self.fingerprint = Path(path), fingerprint
        self.trials: dict[str, dict] = {}
        if self.path.is_file():
            saved = read_json(self.path)
            if saved.get("fingerprint") == fingerprint and saved.get("code") == code_digest():
                self.trials = saved["trials"]

    def get(self, choice: Choice) -> dict | None:
        return self.trials.get(choice_key(choice))

    def put(self, choice: Choice, trial: Trial) -> None:
        self.trials[choice_key(choice)] = asdict(trial)
        write_json(self.path, {"fingerprint": self.fingerprint, "code": code_digest(), "trials": self.trials})

    def carry(self, choice: Choice, score: dict | None) -> None:
        """Take an earlier step's `score` of `choice` if it was measured under this memo's fingerprint.

        Its timing is left out: a score is the same wherever it is computed, a duration is not.
        """
        if score and score.get("fingerprint") == self.fingerprint and self.get(choice) is None:
            fields = {k: score[k] for k in SCORE_FIELDS}
            self.trials[choice_key(choice)] = asdict(Trial({}, fit_seconds=None, carried_from=score["step"], **fields))

    def score(self, choice: Choice, step: str) -> dict | None:
        """What the choice file carries for `choice`: its score, the memo's fingerprint, the step that trained it."""
        saved = self.get(choice)
        if saved is None:
            return None
        trained_by = saved.get("carried_from") or step
        return {"fingerprint": self.fingerprint, "step": trained_by, **{k: saved[k] for k in SCORE_FIELDS}}
