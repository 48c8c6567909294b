"""`find_lr` on the digits (a 64-64-10 MLP, SGD with momentum 0.9, start=1e-5) for a few seeds.

For each seed it prints the suggestion, the old rule's (the steepest slope of the smoothed loss
over every point), and the loss of a fresh model before and after 2 epochs at the suggestion; the
recorded curves go to /tmp/finder_<backend>_<steps>_<end>_<batch>.npz.

    KERAS_BACKEND=torch .venv/bin/python bench/finder_check.py [--steps N] [--end E]
        [--batch-size B] [seeds...]
"""

import keras
import numpy as np
from sklearn.datasets import load_digits

import keras_lrsched as lrs


def digits():
    data = load_digits()
    return (data.data / 16.0).astype("float32"), data.target.astype("int32")


def make_model(seed, lr=0.01):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.SGD(lr, momentum=0.9), loss="sparse_categorical_crossentropy")
    return model


def steepest_everywhere(result):
    """The rule before the fix: the steepest slope of the smoothed loss over every point but a
    diverged last one."""
    n = len(result.losses) - result.diverged
    lr, loss = result.learning_rates[:n], result.smoothed_losses[:n]
    return float(lr[np.argmin(np.gradient(loss, np.log10(lr)))])


def main(seeds, steps=100, end=10.0, batch_size=32):
    x, y = digits()
    backend = keras.backend.backend()
    out = {}
    for seed in seeds:
        model = make_model(seed)
        result = lrs.find_lr(model, x, y, start=1e-5, end=end, steps=steps,
                             batch_size=batch_size)
        old = steepest_everywhere(result)
        if result.suggestion is None:
            print(f"{backend} seed={seed}: no suggestion ({result})", flush=True)
            continue
        trained = make_model(seed, lr=result.suggestion)
        first = float(trained.evaluate(x, y, batch_size=256, verbose=0))
        trained.fit(x, y, batch_size=32, epochs=2, verbose=0)
        last = float(trained.evaluate(x, y, batch_size=256, verbose=0))
        print(f"{backend} seed={seed} end={end:g} batch={batch_size} steps={len(result.losses)} "
              f"diverged={result.diverged} suggestion={result.suggestion:.3g} "
              f"(steepest-everywhere {old:.3g}) "
              f"loss {first:.3f} -> {last:.3f}", flush=True)
        out[f"lr_{seed}"] = result.learning_rates
        out[f"loss_{seed}"] = result.losses
        out[f"div_{seed}"] = np.array(result.diverged)
    np.savez(f"/tmp/finder_{backend}_{steps}_{end:g}_{batch_size}.npz", **out)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--end", type=float, default=10.0)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    main(args.seeds, args.steps, args.end, args.batch_size)
