"""Scale-out: the callback under the engines users scale to, each in a fresh process.

* JAX: ``keras.distribution.DataParallel`` over 2 host devices
  (``XLA_FLAGS=--xla_force_host_platform_device_count=2``);
* TensorFlow: ``tf.distribute.MirroredStrategy`` over 2 logical CPUs;
* Torch: Keras' torch trainer runs on one device; a torch module wrapped the way Keras wraps it
  (``keras.layers.TorchModuleWrapper``) is driven like any Keras model.

Each scenario runs in the suite of its own backend (it needs that backend's process-wide setup),
and is skipped in the other two. The scenarios themselves live in distributed_worker.py.
"""

import os
import pathlib
import subprocess
import sys

import keras
import pytest

WORKER = pathlib.Path(__file__).with_name("distributed_worker.py")
TIMEOUT = 300
STEP_AND_EPOCH_CASES = (
    "step/keras_lrsched",
    "step/table+plateau",
    "step/keras-closed-form+plateau",
    "epoch/f(epoch, lr)",
    "step/keras_lrsched+hyper",
    "epoch/f(epoch, lr)+hyper",
)


def run_worker(scenario, backend, **env):
    environment = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONWARNINGS": "ignore",
        **env,
    }
    done = subprocess.run(
        [sys.executable, str(WORKER), scenario],
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=WORKER.parent.parent,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{scenario} failed:\n{output[-6000:]}"
    lines = [line for line in done.stdout.splitlines() if line.startswith(f"OK {scenario}")]
    assert lines, f"{scenario} printed no OK line:\n{output[-3000:]}"
    return lines[-1]


def only_under(backend):
    return pytest.mark.skipif(
        keras.backend.backend() != backend,
        reason=f"runs in the {backend} suite (its process-wide setup is {backend}'s)",
    )


@only_under("jax")
def test_jax_data_parallel_on_two_devices_matches_one_device():
    summary = run_worker(
        "jax-data-parallel", "jax", XLA_FLAGS="--xla_force_host_platform_device_count=2"
    )
    assert "2 devices" in summary
    for case in STEP_AND_EPOCH_CASES:
        assert case in summary


@only_under("tensorflow")
def test_tf_mirrored_strategy_on_two_cpus_matches_one_device():
    summary = run_worker("tf-mirrored", "tensorflow")
    assert "2 replicas" in summary
    for case in STEP_AND_EPOCH_CASES:
        assert case in summary


@only_under("torch")
def test_torch_module_wrapper_is_driven_like_any_keras_model():
    summary = run_worker("torch-wrapped", "torch")
    for case in ("step/keras_lrsched", "step/table", "step/keras-closed-form", "epoch/f(epoch)",
                 "epoch/f(epoch, lr)"):
        assert case in summary
