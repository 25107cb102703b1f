"""The paper's sequential grid search: one step's trials, failures and choice.

A step starts from the previous step's choice (a small JSON file, so DVC reruns
a step exactly when what it starts from changes), tries every configuration of
its grid, and keeps the best by validation accuracy. The choice file carries the
chosen configuration's score, which the next step takes instead of training that
configuration again when its grid holds it (same data, budget, seed and engine). All trials of a step share
one built and traced model: weights, optimizer state, learning rate and
regularizer strength are reset or assigned between trials instead of rebuilding,
because tracing a fresh ResNet costs far more than a short trial.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
from keras import ops

from fashioncat.config import DEFAULT_ENGINE, Engine, Hyper, TrainConfig, TuneConfig
from fashioncat.contracts import Choice
from fashioncat.deps import code_digest
from fashioncat.io import read_json, write_json
from fashioncat.model import evaluation, models, training
from fashioncat.model.checkpoints import fingerprint
from fashioncat.model.splits import Splits, train_val, with_subsets
from fashioncat.reporting import paper


def rounds(step: str, grid) -> list[list[dict]]:
    """The changes a step tries, as rounds; the best of each round is kept before the next.

    Augmentation (Table 2) sweeps each knob on its own, in order, each from the
    best so far; the other steps try every combination of their keys at once.
    """
    fields = {f.name: getattr(grid, f.name) for f in dataclasses.fields(grid)}
    if step == "augmentation":
        return [[{name: value} for value in values] for name, values in fields.items()]
    return [[dict(zip(fields, values)) for values in itertools.product(*fields.values())]]


@dataclass
class Trial:
    changes: dict
    val_accuracy: float | None
    fit_seconds: float | None  # None: not trained in this step (carried_from says where)
    epochs: int
    failed: str = ""  # why the trial has no usable result (diverged), else ""
    train_loss: list[float] = dataclasses.field(default_factory=list)
    carried_from: str = ""  # the earlier step whose score this is, else ""


SCORE_FIELDS = ("val_accuracy", "epochs", "failed", "train_loss")


def better(trial: Trial, best: Trial | None) -> bool:
    """Strictly higher validation accuracy wins, so ties keep the earlier (grid-order) configuration."""
    if trial.failed or trial.val_accuracy is None:
        return False
    return best is None or trial.val_accuracy > best.val_accuracy


class _Strengths(keras.regularizers.Regularizer):
    """An L1 + L2 kernel penalty whose strengths are variables.

    Same formula as keras' L1, L2 and L1L2; a trial changes the regularizer by
    assigning strengths, so the traced training step is reused.
    """

    def __init__(self):
        self.l1 = keras.Variable(0.0, trainable=False, name="tuned_l1")
        self.l2 = keras.Variable(0.0, trainable=False, name="tuned_l2")

    def __call__(self, x):
        return self.l1 * ops.sum(ops.abs(x)) + self.l2 * ops.sum(ops.square(x))

    def set(self, hyper: Hyper) -> None:
        self.l1.assign(hyper.l1 if hyper.regularizer in ("l1", "l1_l2") else 0.0)
        self.l2.assign(hyper.l2 if hyper.regularizer in ("l2", "l1_l2") else 0.0)


def trial_data(splits: Splits, subset: int, seed: int, val_subset: int = 0) -> Splits:
    """The splits a step's trials use: stratified subsets of train (`subset` images) and val (`val_subset`); 0: all."""
    return with_subsets(splits, {"train": subset, "val": val_subset}, seed, names=("train", "val"))


class TrialRunner:
    """Trains configurations of one architecture on the same data, reusing one traced model.

    Every trial starts from the state a fresh build would have: the
    initializer's seeded weights (built once per initializer), the optimizer's
    initial slots, the trial's learning rate and penalty. Only a new optimizer
    type needs a new compile (and trace).
    """

    def __init__(
        self,
        architecture: str,
        data: Splits,
        *,
        image_size: int,
        batch_size: int,
        seed: int,
        engine: Engine = DEFAULT_ENGINE,
    ):
        self.architecture, self.data = architecture, data
        self.image_size, self.batch_size, self.seed, self.engine = image_size, batch_size, seed, engine
        self.strengths = _Strengths()
        self._model: keras.Model | None = None
        self._optimizer = ""
        self._optimizer_state: list[np.ndarray] = []
        self._initial: dict[str, list[np.ndarray]] = {}

    def reseed(self, seed: int) -> None:
        """Later trials draw initial weights and data order from `seed` (the traced model is kept)."""
        self.seed = seed
        self._initial.clear()

    def _built(self, hyper: Hyper) -> keras.Model:
        training.prepare(self.seed, self.engine)
        return models.build(self.architecture, len(self.data.classes), self.image_size, hyper)

    def _initial_weights(self, hyper: Hyper) -> list[np.ndarray]:
        if hyper.initializer not in self._initial:
            self._initial[hyper.initializer] = self._built(hyper).get_weights()
        return self._initial[hyper.initializer]

    def _model_for(self, hyper: Hyper) -> keras.Model:
        if self._model is None:
            self._model = self._built(hyper)
            self._initial[hyper.initializer] = self._model.get_weights()
            for layer in self._model._flatten_layers():
                if hasattr(layer, "kernel_regularizer") and hasattr(layer, "kernel"):
                    layer.kernel.regularizer = self.strengths
        if self._optimizer != hyper.optimizer:
            training.compile_model(self._model, models.optimizer(hyper))
            self._optimizer_state = [v.numpy() for v in self._model.optimizer.variables]
            self._optimizer = hyper.optimizer
        return self._model

    def _reset(self, hyper: Hyper) -> keras.Model:
        model = self._model_for(hyper)
        model.set_weights(self._initial_weights(hyper))
        for variable, value in zip(model.optimizer.variables, self._optimizer_state):
            variable.assign(value)
        self.strengths.set(hyper)
        # No reseeding here: it made the next fit about 1.7x slower (measured), and a trial
        # needs none. Its weights and optimizer state are restored, its data order and
        # augmentation come from explicitly seeded tf.data ops, and the models have no dropout.
        return model

    def run(self, choice: Choice, changes: dict, *, epochs: int, patience: int) -> Trial:
        """Train `choice` from scratch for the trial budget; its validation accuracy, or why it failed."""
        model = self._reset(choice.hyper)
        train, val = train_val(self.data, choice.augment, batch_size=self.batch_size, seed=self.seed)
        result = training.Result()
        hooks = [models.EpochDecay(choice.hyper.learning_rate, choice.hyper.decay), training.Diverged(result)]
        if patience <= 0:
            val = None  # validation only scores the trial, after fitting
        else:
            hooks.append(
                keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
            )
        started = time.perf_counter()
        history = model.fit(
            train.epochs(0, epochs),
            steps_per_epoch=train.steps,
            validation_data=val,
            epochs=epochs,
            callbacks=hooks,
            shuffle=False,
            verbose=0,
        )
        seconds = round(time.perf_counter() - started, 1)
        losses = [round(float(x), 4) for x in history.history.get("loss", [])]
        trial = Trial(changes, None, seconds, len(losses), result.diverged, losses)
        if not trial.failed:
            trial.val_accuracy, trial.failed = self._val_accuracy(model)
        return trial

    def _val_accuracy(self, model: keras.Model) -> tuple[float | None, str]:
        probs = training.probabilities(model, self.data.images["val"])
        if not np.isfinite(probs).all():
            return None, "predictions are not finite (the weights overflowed)"
        return evaluation.summary(self.data.labels["val"], probs, self.data.classes)["accuracy"], ""


def _key(choice: Choice) -> str:
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
        return self.trials.get(_key(choice))

    def put(self, choice: Choice, trial: Trial) -> None:
        self.trials[_key(choice)] = asdict(trial)
        write_json(self.path, {"fingerprint": self.fingerprint, "code": code_digest(), "trials": self.trials})

    def carry(self, choice: Choice, score: dict | None) -> None:
        """Take an earlier step's `score` of `choice` if it was measured under this memo's fingerprint.

        Its timing is left out: a score is the same wherever it is computed, a duration is not.
        """
        if score and score.get("fingerprint") == self.fingerprint and self.get(choice) is None:
            fields = {k: score[k] for k in SCORE_FIELDS}
            self.trials[_key(choice)] = asdict(Trial({}, fit_seconds=None, carried_from=score["step"], **fields))

    def score(self, choice: Choice, step: str) -> dict | None:
        """What the choice file carries for `choice`: its score, the memo's fingerprint, the step that trained it."""
        saved = self.get(choice)
        if saved is None:
            return None
        trained_by = saved.get("carried_from") or step
        return {"fingerprint": self.fingerprint, "step": trained_by, **{k: saved[k] for k in SCORE_FIELDS}}


@dataclass
class StepResult:
    trials: list[Trial]
    chosen: Choice
    reused: int  # trials not trained in this step: repeats within it, and a score carried from the previous step
    score: dict | None = None  # the chosen configuration's score, for the choice file (Memo.score)


def run_step(
    step: str,
    grid,
    start: Choice,
    runner: TrialRunner,
    memo: Memo,
    *,
    epochs: int,
    patience: int,
    log=print,
    parallel=None,
) -> StepResult:
    """All trials of one step from `start`; the choice is the best by validation accuracy.

    A configuration already tried in this step (the augmentation sweep meets
    its current best again in every round), or carried into `memo` from the
    previous step, is not trained again. `parallel`
    (executors.RayTrials) trains a round's not yet memoized trials at once first;
    the loop then reads them from the memo, so choice and report are the same.
    """
    current, trials, reused, seen = start, [], 0, set()
    plan = rounds(step, grid)
    total = sum(len(r) for r in plan)
    for round_ in plan:
        if parallel is not None:
            todo = [(c, changes) for changes in round_ if memo.get(c := current.with_changes(changes)) is None]
            for (choice, _), trial in zip(todo, parallel.run(todo, epochs=epochs, patience=patience)):
                memo.put(choice, trial)
        best = None
        for changes in round_:
            choice = current.with_changes(changes)
            saved = memo.get(choice)
            if saved is None:
                trial = runner.run(choice, changes, epochs=epochs, patience=patience)
                memo.put(choice, trial)
            else:
                trial = Trial(**{**saved, "changes": changes})
                reused += _key(choice) in seen or bool(trial.carried_from)
            seen.add(_key(choice))
            trials.append(trial)
            log(f"{step} {len(trials)}/{total} {_label(changes)}: {_outcome(trial)}")
            if better(trial, best):
                best = trial
        if best is not None:
            current = current.with_changes(best.changes)
    return StepResult(trials, current, reused, memo.score(current, step))


def search_step(
    step: str,
    start: Choice,
    splits: Splits,
    *,
    tune: TuneConfig,
    train: TrainConfig,
    seed: int,
    checkpoints: Path,
    start_score: dict | None = None,
) -> tuple[StepResult, dict]:
    """One step as `tune@<step>` runs it, on `splits`' train subset; its result and report.

    Finished trials are memoized under `checkpoints` so an interrupted step resumes;
    `start_score` (the previous step's choice file) spares training `start` again;
    `tune.executor` decides whether a round's trials run one by one or as Ray tasks.
    """
    budget = tune.trial
    runner = _runner(start, splits, tune=tune, train=train, seed=seed)
    key = fingerprint(budget, train.image_size, train.batch_size, seed, runner.data.digest(), asdict(runner.engine))
    memo = Memo(checkpoints / "trials.json", key)
    memo.carry(start, start_score)
    grid = getattr(tune.grids, step)
    with _parallel(tune, runner) as parallel:
        result = run_step(
            step, grid, start, runner, memo, epochs=budget.epochs, patience=budget.patience, parallel=parallel
        )
    return result, step_report(step, grid, start, result, budget, len(runner.data.labels["train"]))


def _runner(start: Choice, splits: Splits, *, tune: TuneConfig, train: TrainConfig, seed: int) -> TrialRunner:
    """The TrialRunner of `tune@*` and `tune_noise`: `start`'s architecture on the trial subset of `splits`."""
    data = trial_data(splits, tune.trial.subset, seed, tune.trial.val_subset)
    return TrialRunner(
        start.architecture,
        data,
        image_size=train.image_size,
        batch_size=train.batch_size,
        seed=seed,
        engine=train.engine(),
    )


@contextlib.contextmanager
def _parallel(tune: TuneConfig, runner: TrialRunner):
    """executors.RayTrials under `tune.executor: ray`, else None (trials one after another)."""
    if tune.executor != "ray":
        yield None
        return
    from fashioncat.model import executors  # imports Ray, which `local` never needs

    with executors.ray_trials(runner, tune.ray) as parallel:
        yield parallel


def seed_spread(start: Choice, splits: Splits, *, tune: TuneConfig, train: TrainConfig, seed: int) -> dict:
    """`tune_noise`'s report: `start` trained at the trial budget under `tune.noise_seeds` seeds from `seed` on."""
    budget = tune.trial
    runner = _runner(start, splits, tune=tune, train=train, seed=seed)
    seeds = [seed + i for i in range(tune.noise_seeds)]
    band = noise_band(start, runner, seeds, epochs=budget.epochs, patience=budget.patience)
    return {**band, "trial_budget": asdict(budget)}


def _label(changes: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in changes.items())


def _outcome(trial: Trial) -> str:
    if trial.failed:
        return f"failed ({trial.failed})"
    where = f"from the {trial.carried_from} step" if trial.carried_from else f"{trial.fit_seconds:.0f} s"
    return f"val accuracy {trial.val_accuracy:.3f} ({where})"


def grid_values(grid, choice: Choice) -> dict:
    """The values `choice` has for the keys a grid varies (what a step chose)."""
    merged = {**asdict(choice.hyper), **asdict(choice.augment)}
    return {f.name: merged[f.name] for f in dataclasses.fields(grid)}


def step_report(step: str, grid, start: Choice, result: StepResult, budget, train_images: int) -> dict:
    """metrics/tune/<step>.json: every trial beside the paper's figure, and the choice."""
    rows = [
        {
            **t.changes,
            "val_accuracy": t.val_accuracy,
            "paper_accuracy": paper.tuning_accuracy(step, t.changes),
            "fit_seconds": t.fit_seconds,
            "epochs": t.epochs,
            "failed": t.failed,
            "carried_from": t.carried_from,
        }
        for t in result.trials
    ]
    scored = [r["val_accuracy"] for r in rows if r["val_accuracy"] is not None]
    return {
        "step": step,
        "architecture": start.architecture,
        "started_from": grid_values(grid, start),
        "chosen": grid_values(grid, result.chosen),
        "best_val_accuracy": max(scored) if scored else None,
        "trials_run": len(rows) - result.reused,
        "trials_failed": sum(bool(r["failed"]) for r in rows),
        "trial_budget": {**asdict(budget), "train_images": train_images},
        "trials": rows,
    }


def noise_band(start: Choice, runner: TrialRunner, seeds: list[int], *, epochs: int, patience: int, log=print) -> dict:
    """The validation accuracy of `start` under each seed at the trial budget: how far seeds alone move a trial.

    A tuning step's pick is only meaningful when its margin over the runner-up exceeds this spread.
    """
    scores = []
    for seed in seeds:
        runner.reseed(seed)
        trial = runner.run(start, {}, epochs=epochs, patience=patience)
        log(f"noise seed {seed}: {_outcome(trial)}")
        scores.append(trial.val_accuracy)
    valid = [s for s in scores if s is not None]
    return {
        "seeds": seeds,
        "val_accuracy": scores,
        "spread": round(max(valid) - min(valid), 4) if valid else None,
        "std": round(float(np.std(valid)), 4) if valid else None,
        "mean": round(float(np.mean(valid)), 4) if valid else None,
    }
