"""train.precision and train.deterministic: what `training.prepare` sets, and what the models are built with.

Op determinism and the dtype policy are global to a process, so each setting runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import json, sys
    import keras
    import numpy as np
    from tensorflow.python.framework.config import is_op_determinism_enabled

    from fashioncat.config import Engine, Hyper
    from fashioncat.model import models, training, transfer

    precision, deterministic = sys.argv[1], sys.argv[2] == "true"
    hyper = Hyper("glorot_uniform", "adam", 0.001, 1.0, "none", 0.0, 0.0)
    training.prepare(3, Engine(precision, deterministic))
    model = training.compile_model(models.build("resnet50", 4, 32, hyper), models.optimizer(hyper))
    network = model.layers[-1]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 32, 32, 3)).astype("float32")
    y = np.eye(4, dtype="float32")[rng.integers(0, 4, 8)]
    initial = float(model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)["loss"])
    losses = model.fit(x, y, batch_size=8, epochs=20, verbose=0).history["loss"]
    headed = transfer._with_new_head(model, 3, hyper)
    print(json.dumps({
        "policy": models.dtype_policy(precision),
        "global_policy": keras.mixed_precision.global_policy().name,
        "op_determinism": bool(is_op_determinism_enabled()),
        "jit_compile": bool(model.jit_compile),
        "conv_compute": network.layers[2].compute_dtype,
        "classifier": transfer.classifier(model).dtype_policy.name,
        "new_classifier": transfer.classifier(headed).dtype_policy.name,
        "output": str(model.predict(x[:2], verbose=0).dtype),
        "initial_loss": initial,
        "losses": [float(v) for v in losses],
    }))
    """
)


def _start(precision: str, deterministic: bool) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen(
        [sys.executable, "-c", PROBE, precision, str(deterministic).lower()],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


ENGINES = {"auto": True, "mixed_bfloat16": False, "mixed_float16": False}  # precision -> deterministic


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    """Each engine in its own fresh interpreter (the policy and op determinism are process-wide), all at once."""
    started = {precision: _start(precision, deterministic) for precision, deterministic in ENGINES.items()}
    return {precision: _result(process) for precision, process in started.items()}


@pytest.fixture(scope="module")
def float32_run(runs):
    return runs["auto"]


def test_default_engine_on_a_cpu_is_float32_and_deterministic_without_xla(float32_run):
    out = float32_run
    assert out["policy"] == out["global_policy"] == "float32", "auto is float32 where no GPU is visible"
    assert out["op_determinism"] is True
    assert out["jit_compile"] is False
    assert out["conv_compute"] == "float32" and out["classifier"] == "float32"
    assert out["output"] == "float32"
    # eight images seen five times: the network memorises them, so the loss falls
    assert out["losses"][-1] < out["losses"][0]


@pytest.mark.parametrize("precision,half", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
def test_mixed_precision_computes_in_half_with_a_float32_classifier(precision, half, float32_run, runs):
    out = runs[precision]
    assert out["global_policy"] == precision
    assert out["conv_compute"] == half
    # the softmax stays float32, in the built model and in a transfer head alike
    assert out["classifier"] == out["new_classifier"] == "float32"
    assert out["output"] == "float32"
    assert out["op_determinism"] is False, "deterministic: false must leave op determinism off"
    assert out["jit_compile"] is False, "Keras never compiles with XLA on a CPU-only machine"
    # the same seeded weights in half precision: the untrained loss matches float32's within half precision's
    # rounding (measured: 2e-4 relative in bfloat16, 2e-6 in float16), and training lowers it. mixed_float16's
    # loss scaling skips its first steps while the scale comes down from 2**15 (measured: 9 of these 20), which
    # is why 20 epochs of one batch: 5 left its loss where it started
    assert out["initial_loss"] == pytest.approx(float32_run["initial_loss"], rel=2e-3)
    assert min(out["losses"]) < 0.5 * out["losses"][0]
