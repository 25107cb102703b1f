"""`tune.executor: ray`: the trials of one tuning round as parallel Ray tasks.

The trials of a round are independent (each starts from the same best-so-far), so
`search.run_step` hands the ones not yet memoized to `RayTrials.run` and then goes on
exactly as the sequential loop does: same order, same memo, same choice. Every task
builds its own `trials.TrialRunner` (same architecture, data, image size, batch size, seed and engine)
and trains one trial from the seeded state a fresh build has, which is the state the
sequential runner restores before each trial.

Ray is imported only here and only when the executor is `ray`. With $RAY_ADDRESS set
the step joins that cluster (`auto`, `ray://<head>:10001`) and ships this package to it;
otherwise it starts Ray on this machine for the step and stops it after.

Imports point one way: `search` imports this module, which imports `trials` (inside the
functions that run or rebuild a trial, so importing it loads no Keras) and never the search.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict
from pathlib import Path

from fashioncat.config import RayResources
from fashioncat.errors import FashionError

RAY_PIN = "ray[default]==2.60.0"  # as in requirements.txt


def _ray():
    try:
        import ray
    except ImportError:
        raise FashionError(
            f"tune.executor is ray, but Ray is not installed: pip install '{RAY_PIN}' (or set tune.executor: local)"
        ) from None
    return ray


def _trial(
    architecture, data, image_size, batch_size, seed, engine, batch_norm_momentum, choice, changes, epochs, patience
) -> dict:
    """One trial in a Ray worker, from a fresh runner: the Trial as a dict."""
    import keras

    from fashioncat.model.trials import TrialRunner

    keras.backend.clear_session()  # a reused worker keeps no earlier trial's model
    runner = TrialRunner(
        architecture,
        data,
        image_size=image_size,
        batch_size=batch_size,
        seed=seed,
        engine=engine,
        batch_norm_momentum=batch_norm_momentum,
    )
    return asdict(runner.run(choice, changes, epochs=epochs, patience=patience))


class RayTrials:
    """Runs trials of one step as Ray tasks; the step's splits go to the object store once."""

    def __init__(self, ray, runner, resources: RayResources):
        self.ray, self.runner = ray, runner
        self.data = ray.put(runner.data)
        self.task = ray.remote(num_cpus=resources.num_cpus, num_gpus=resources.num_gpus)(_trial)

    def run(self, todo: list, *, epochs: int, patience: int):
        """Trials for `todo` ([(choice, changes), ...]), all submitted at once, yielded in `todo`'s order.

        Yielded one by one, so the memo keeps each finished trial even if the step is interrupted.
        """
        from fashioncat.model.trials import Trial

        r = self.runner
        refs = [
            self.task.remote(
                r.architecture,
                self.data,
                r.image_size,
                r.batch_size,
                r.seed,
                r.engine,
                r.batch_norm_momentum,
                choice,
                changes,
                epochs,
                patience,
            )
            for choice, changes in todo
        ]
        for ref in refs:
            yield Trial(**self.ray.get(ref))


@contextlib.contextmanager
def ray_trials(runner, resources: RayResources, *, local_cpus: int | None = None):
    """A `RayTrials` for one step, on the cluster at $RAY_ADDRESS or on a Ray started here (`local_cpus` cores)."""
    ray = _ray()
    started = not ray.is_initialized()
    address = os.environ.get("RAY_ADDRESS")
    if started:
        # a reused worker's GPU memory grows as needed, so fractional num_gpus can share a device
        env = {"env_vars": {"TF_FORCE_GPU_ALLOW_GROWTH": "true"}}
        if address:
            import fashioncat

            env["py_modules"] = [str(Path(fashioncat.__file__).parent)]
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(
                num_cpus=local_cpus or os.cpu_count(), include_dashboard=False, runtime_env=env, log_to_driver=False
            )
    try:
        if started:
            where = f"the Ray cluster at {address}" if address else "the Ray started on this machine"
        else:
            where = "the Ray cluster this process is connected to"
        _check_resources(ray, resources, where)
        yield RayTrials(ray, runner, resources)
    finally:
        if started:
            ray.shutdown()


def _check_resources(ray, resources: RayResources, where: str) -> None:
    """A trial needs its cores and GPUs on one node; asking for more than any node has, it is never
    scheduled and the step waits forever. Refused before a trial is submitted."""
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    for key, name, unit in (("GPU", "num_gpus", "GPUs"), ("CPU", "num_cpus", "CPUs")):
        asked = getattr(resources, name)
        most = max((r.get(key, 0) for r in nodes), default=0)
        if asked > most:
            has = f"has {most:g} {unit}" if len(nodes) <= 1 else f"has no node with more than {most:g} {unit}"
            raise FashionError(
                f"params.yaml: tune.ray.{name} is {asked:g} per trial, but {where} {has}: "
                f"no trial could ever start (lower tune.ray.{name}, or run where there are more {unit})"
            )
    fits = [r for r in nodes if r.get("GPU", 0) >= resources.num_gpus and r.get("CPU", 0) >= resources.num_cpus]
    if not fits:
        raise FashionError(
            f"params.yaml: tune.ray asks for {resources.num_cpus:g} CPUs and {resources.num_gpus:g} GPUs per trial,"
            f" but no node of {where} has both: no trial could ever start"
        )
