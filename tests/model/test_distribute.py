"""train.distribute: MirroredStrategy over two devices trains as one device does, within float round-off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Logical devices must be set before TensorFlow initialises, hence a fresh interpreter.
PROBE = textwrap.dedent(
    """
    import json
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    import numpy as np

    from fashioncat.model import models, training

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (64, 32, 32, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 4, 64), 4)

    def run(strategy):
        training.prepare(7)
        with strategy.scope() if strategy else models.strategy_scope("none"):
            model = keras.Sequential(
                [
                    keras.Input((32, 32, 3)),
                    keras.layers.Rescaling(1 / 127.5, offset=-1.0),
                    keras.layers.Conv2D(8, 3, activation="relu"),
                    keras.layers.GlobalAveragePooling2D(),
                    keras.layers.Dense(4, activation="softmax"),
                ]
            )
            training.compile_model(model, keras.optimizers.Adam(0.01))
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        history = model.fit(data, epochs=3, shuffle=False, verbose=0).history
        return {"loss": history["loss"], "accuracy": history["accuracy"]}

    logical = [d.name for d in tf.config.list_logical_devices("CPU")]
    mirrored = tf.distribute.MirroredStrategy(logical)
    print(json.dumps({
        "logical_cpus": len(logical),
        "replicas": mirrored.num_replicas_in_sync,
        "auto_on_cpu": models.strategy("auto") is None,
        "single": run(None),
        "mirrored": run(mirrored),
    }))
    """
)

# Measured on 2 cores (TF 2.21 CPU), on an Intel Xeon and on an AMD EPYC alike: the largest loss
# difference over 3 epochs was 1.19e-7, one float32 rounding step at these losses (the replicas sum
# their gradients in another order). Four steps of it: a real divergence (a batch split wrongly,
# a replica's update lost) moves the loss by far more.
LOSS_TOLERANCE = 5e-7


def test_mirrored_over_two_cpus_matches_one_device():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300, env=_env()
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["logical_cpus"] == 2 and out["replicas"] == 2
    assert out["auto_on_cpu"], "auto must use no strategy without several GPUs"
    single, mirrored = out["single"], out["mirrored"]
    assert len(single["loss"]) == len(mirrored["loss"]) == 3
    worst = max(abs(a - b) for a, b in zip(single["loss"], mirrored["loss"]))
    print(f"largest loss difference: {worst:.3g}")
    assert worst <= LOSS_TOLERANCE, (single, mirrored)
    assert all(abs(a - b) <= 1 / 64 + 1e-9 for a, b in zip(single["accuracy"], mirrored["accuracy"]))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env
