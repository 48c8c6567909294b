"""Multi-process training: two processes on this machine, each with its own copy of the callback.

* JAX: ``jax.distributed.initialize`` with a coordinator on 127.0.0.1, one CPU device per
  process, ``keras.distribution.DataParallel`` over both;
* TensorFlow: ``tf.distribute.MultiWorkerMirroredStrategy`` with ``TF_CONFIG`` naming two
  ports on 127.0.0.1.

Each backend's processes are started here (tests/multiprocess_worker.py says what each runs and
measures) under the suite of that backend, and skipped in the others. Every process must apply,
step by step, the lr of the same fit in one process (computed here), and its weights equal that
fit's up to the float32 round-off of the gradient all-reduce. Two launches per backend: `train`
(the cases, then a saving run interrupted after two epochs) and `resume` (BackupAndRestore in two
new processes). Each launch is bounded in time; on any failure or timeout every process it
started is killed.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
import multiprocess_worker as worker

WORKER = worker.__file__
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(WORKER)))
TIMEOUT = 240  # seconds per launch; a launch takes 10-30 s on 2 cores
BACKENDS = ("jax", "tensorflow")


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def commands(backend, phase, out):
    """[(argv, environment)] for the two processes of one launch."""
    base = {
        key: value for key, value in os.environ.items() if key not in ("TF_CONFIG", "XLA_FLAGS")
    }
    base.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    argv = [sys.executable, WORKER, phase, str(out)]
    if backend == "jax":
        (port,) = free_ports(1)
        env = {**base, "JAX_PLATFORMS": "cpu",
               "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
        return [
            (argv + ["--coordinator", f"127.0.0.1:{port}", "--process-id", str(i)], env)
            for i in range(worker.PROCESSES)
        ]
    workers = [f"127.0.0.1:{port}" for port in free_ports(worker.PROCESSES)]
    return [
        (argv, {**base, "TF_CONFIG": json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})})
        for i in range(worker.PROCESSES)
    ]


def launch(backend, phase, out):
    """Run both processes of one phase to completion; their results, one dict per process."""
    logs = [out / f"{phase}-{i}.log" for i in range(worker.PROCESSES)]
    procs, timed_out = [], False
    try:
        for (argv, env), log in zip(commands(backend, phase, out), logs):
            with open(log, "w") as sink:
                # A session of its own: on failure the process and anything it started go.
                procs.append(subprocess.Popen(
                    argv, env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
                    start_new_session=True,
                ))
        deadline = time.monotonic() + TIMEOUT
        while True:
            codes = [p.poll() for p in procs]
            if None not in codes or any(c not in (None, 0) for c in codes):
                break  # all done, or one failed: the other may wait for it forever
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):  # it ended just now
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    codes = [p.returncode for p in procs]
    if codes != [0] * worker.PROCESSES:
        tails = "\n".join(f"--- process {i} (exit {c}):\n{log.read_text()[-4000:]}"
                          for i, (c, log) in enumerate(zip(codes, logs)))
        why = f"still running after {TIMEOUT} s, killed" if timed_out else "one failed"
        pytest.fail(f"{backend} {phase}: {why}\n{tails}")
    return [json.loads((out / f"{phase}-{i}.json").read_text()) for i in range(worker.PROCESSES)]


def h5_contents(path):
    import h5py

    found = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            found[name] = np.asarray(obj)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return found


@pytest.fixture(scope="module", params=BACKENDS)
def runs(request, tmp_path_factory):
    backend = request.param
    if keras.backend.backend() != backend:
        pytest.skip(f"runs in the {backend} suite (its processes are {backend}'s)")
    out = tmp_path_factory.mktemp(f"multiprocess-{backend}")
    train = launch(backend, "train", out)
    # The interrupted run's backups, as the resume will find them: the chief's, and the one the
    # other process wrote into its scratch folder.
    backups = {
        name: h5_contents(folder / "backup" / "latest.weights.h5")
        for name, folder in (("chief", out), ("scratch", out / "scratch-1"))
    }
    resume = launch(backend, "resume", out)
    return {"backend": backend, "out": out, "train": train, "resume": resume, "backups": backups}


@pytest.fixture(scope="module")
def reference():
    """Every case, and the saving run uninterrupted, in this one process on one device."""
    return worker.reference(keras, lrs)


def assert_same_fit(got, want, what, first_step=0):
    """The lr of every update exactly, the plateau decisions, and the weights up to the order of
    the gradient reduction. `first_step`: a resumed fit covers the steps from there on."""
    first_epoch = first_step // worker.STEPS_PER_EPOCH
    assert got["iterations"] == want["iterations"] == worker.N_STEPS, what
    # The probe after each update (it falls by PROBE_GRADIENT * the lr applied), bit for bit.
    assert got["kernel"] == want["kernel"][first_step:], what
    assert got["learning_rates"] == want["learning_rates"][first_step:], what
    assert got["history"]["learning_rate"] == want["history"]["learning_rate"][first_epoch:], what
    assert got["scales"] == want["scales"][first_epoch:], what
    assert got["history"].keys() == want["history"].keys(), what
    for key, values in got["history"].items():
        # Reduced over two processes, the losses differ from one process' by float32 round-off
        # (measured: up to 5e-7 relative). The lrs themselves are compared exactly above.
        np.testing.assert_allclose(values, want["history"][key][first_epoch:], rtol=1e-5,
                                   err_msg=f"{what}: {key}")
    for a, b in zip(got["weights"], want["weights"]):
        # a lr one step off moves these weights by far more
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=what)


def test_two_processes_with_one_device_each(runs):
    for process, result in enumerate(runs["train"]):
        facts = result["facts"]
        assert facts["process"] == process
        assert facts.get("devices", facts.get("replicas")) == worker.PROCESSES, facts


@pytest.mark.parametrize("case", list(worker.CASES))
def test_every_process_applies_the_lrs_of_one_process(runs, reference, case):
    want = reference[case]
    applied = -np.diff([0.0, *want["kernel"]]) / worker.PROBE_GRADIENT
    np.testing.assert_allclose(applied, want["learning_rates"], rtol=1e-6)  # the probe reads lr
    for process, result in enumerate(runs["train"]):
        assert_same_fit(result[case], want, f"{runs['backend']} {case}, process {process}")


def test_plateau_decisions_agree_although_the_local_losses_differ(runs, reference):
    want = reference["step/plateau"]
    for result in runs["train"]:
        assert result["step/plateau"]["scales"] == want["scales"] == [1.0, 1.0, 0.5, 0.5, 0.25]
    # What each process would have decided from its own rows' probe loss alone.
    alone = {0: [1.0, 1.0, 1.0, 1.0, 0.5], 1: [1.0, 0.5, 0.25, 0.125, 0.0625]}
    before = [0.0, *want["kernel"][:-1]]  # the kernel each update's loss was computed at
    logged = want["history"]["probe_loss"]
    for process in range(worker.PROCESSES):
        local = [
            np.mean([worker.local_probe_loss(process, before[k]) for k in range(
                epoch * worker.STEPS_PER_EPOCH, (epoch + 1) * worker.STEPS_PER_EPOCH)])
            for epoch in range(worker.EPOCHS)
        ]
        plateau = worker.plateau(lrs)
        state, scales = plateau.initial_state(), []
        for value in local:
            state = plateau.update(state, value, "min")
            scales.append(state["scale"])
        assert scales == alone[process] != want["scales"], (process, local, scales)
    # Keras logs the mean over both processes' rows.
    for epoch in range(worker.EPOCHS):
        steps = range(epoch * worker.STEPS_PER_EPOCH, (epoch + 1) * worker.STEPS_PER_EPOCH)
        both = np.mean([worker.local_probe_loss(p, before[k])
                        for p in range(worker.PROCESSES) for k in steps])
        assert logged[epoch] == pytest.approx(both, rel=1e-6)


def test_a_config_read_on_the_chief_alone_gives_the_latest_lr(runs, reference):
    """A config read (and a save) gives the optimizer's lr variable the lr of the latest update
    without assigning it: under JAX, an assign to a global array is a collective that one
    process alone would leave unmatched."""
    chief, other = runs["train"]
    want = reference["step/schedule"]["history"]["learning_rate"]
    assert chief["step/schedule"]["config_lr"] == want
    assert other["step/schedule"]["config_lr"] == []


def test_a_resume_in_two_processes_continues_the_uninterrupted_run(runs, reference):
    stopped = worker.INTERRUPTED_AFTER + 1
    for process, (train, resume) in enumerate(zip(runs["train"], runs["resume"])):
        assert train["saving"] == {
            "interrupted": True, "iterations": stopped * worker.STEPS_PER_EPOCH
        }
        assert_same_fit(resume["saving"], reference["saving"],
                        f"{runs['backend']} resumed, process {process}",
                        first_step=stopped * worker.STEPS_PER_EPOCH)


def test_only_the_chief_writes_the_shared_folder(runs, reference):
    out = runs["out"]
    names = [f"epoch{e}.weights.h5" for e in range(1, worker.EPOCHS + 1)]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == sorted(names)
    assert sorted(p.name for p in (out / "scratch-1" / "checkpoints").iterdir()) == sorted(names)
    # BackupAndRestore deletes its backup when a fit ends; the resumed one did, on both.
    assert not (out / "backup").exists() and not (out / "scratch-1" / "backup").exists()
    # Both processes' backups of the interrupted run held the same state: the callback's
    # (plateau best, wait, scale) as well as the weights and the optimizer's.
    chief, scratch = runs["backups"]["chief"], runs["backups"]["scratch"]
    assert chief.keys() == scratch.keys()
    assert any("keras_lrsched_state" in key for key in chief), sorted(chief)
    for key in chief:
        np.testing.assert_array_equal(chief[key], scratch[key], err_msg=key)
    # The chief's checkpoints, loaded here, hold the uninterrupted run's weights at each epoch
    # end, and its lr variable the lr of the epoch's last update.
    want = reference["saving"]
    for epoch in range(1, worker.EPOCHS + 1):
        model = worker.build(keras, worker.SAVING[1])
        model.optimizer.build(model.trainable_variables)
        model.load_weights(str(out / "checkpoints" / f"epoch{epoch}.weights.h5"))
        last = epoch * worker.STEPS_PER_EPOCH - 1
        kernel = float(np.asarray(model.get_layer("probe").kernel.numpy()).reshape(()))
        assert kernel == want["kernel"][last], epoch
        assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == last + 1
        lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        assert lr == want["learning_rates"][last], epoch


def test_keras_fit_under_multi_worker_needs_the_workaround(runs):
    """Keras 3's own fit fails under MultiWorkerMirroredStrategy before its first step
    (keras-team/keras#20585); the worker runs it with `reduce_per_element`. When this fails,
    keras has fixed it: drop the workaround, and say so in the README."""
    if runs["backend"] != "tensorflow":
        pytest.skip("TensorFlow only")
    for result in runs["train"]:
        assert result["facts"]["plain_keras_fit"].startswith(
            "ValueError: Attempt to convert a value (PerReplica"
        ), result["facts"]
