"""The ``keras-lrsched`` command (also ``python -m keras_lrsched``).

    keras-lrsched table SPEC --steps N -o FILE.npy   # precompute an lr table
    keras-lrsched plot SPEC [--steps N] -o FILE.png  # draw a schedule
    keras-lrsched demo [--schedule SPEC] [--update epoch|step] [--epochs E] [--cycle-momentum]

SPEC is a spec string such as ``"one_cycle(0.1, steps=1000)"`` (see ``keras_lrsched.get``) or,
for ``plot``, a ``.npy`` table written by ``table``. ``--help`` exits with status 0. A user error
prints one line on stderr and exits with status 1 (2 for a command line argparse refuses); there
is no traceback (set ``KERAS_LRSCHED_TRACEBACK=1`` to see one).

The command line is parsed before anything heavy is imported: ``--help`` and a command line
argparse refuses never import keras, a backend or Numba.
"""

import argparse
import os
import sys
import textwrap

PROG = "keras-lrsched"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(f"{message} (see `{self.prog} --help`)")


def _count(text):
    """A whole number > 0 from the command line; 1e8 and 100_000_000 are accepted."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}") from None
    if not value.is_integer() or value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}")
    return int(value)


def _schedule(spec):
    # Only `get` first: a spec's mistakes of form are answered before keras is imported.
    from .spec import get

    if spec.endswith(".npy"):
        if not os.path.exists(spec):
            raise ValueError(f"No such table file: {spec}")
        import numpy as np

        from .table import Table

        return Table(np.load(spec, allow_pickle=False))
    return get(spec)


def _table(args):
    schedule = _schedule(args.spec)
    from .schedules import Schedule
    from .table import precompute

    if isinstance(schedule, Schedule):
        values = schedule.table(args.steps, dtype=args.dtype)
    else:
        values = precompute(schedule, args.steps).astype(args.dtype)
    path = args.output if args.output.endswith(".npy") else args.output + ".npy"
    import numpy as np

    np.save(path, values, allow_pickle=False)
    print(
        f"wrote {path}: {values.shape[0]} steps ({values.dtype}), lr {values[0]:.6g} at step 0, "
        f"{values[-1]:.6g} at step {values.shape[0] - 1}, min {values.min():.6g}, "
        f"max {values.max():.6g}"
    )


def _plot(args):
    schedule = _schedule(args.spec)
    from .plot import plot

    ax = plot(schedule, steps=args.steps)
    ax.set_title(args.spec if len(args.spec) <= 80 else args.spec[:77] + "...", fontsize=9)
    ax.grid(alpha=0.3)
    ax.figure.savefig(args.output, dpi=args.dpi)
    print(f"wrote {args.output}")


def _demo(args):
    from . import demo

    demo.run(
        schedule=args.schedule,
        update=args.update,
        epochs=args.epochs,
        output=args.output,
        batch_size=args.batch_size,
        cycle_momentum=args.cycle_momentum,
    )


def _epilog():
    from .spec import SCHEDULE_NAMES

    names = textwrap.fill(", ".join(SCHEDULE_NAMES), width=76, initial_indent="  ",
                          subsequent_indent="  ")
    return (
        "SPEC calls a schedule by name, with the arguments of its class (the first may be\n"
        f"positional, the others are named):\n{names}\n\n"
        "example:\n"
        '  keras-lrsched plot "warmup(cosine(1e-3, steps=900), warmup_steps=100)" -o lr.png'
    )


def build_parser():
    parser = _Parser(
        prog=PROG,
        description="Learning-rate schedules for Keras 3: tables, plots and a demo.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("table", help="precompute an lr table and save it as .npy")
    p.add_argument(
        "spec", metavar="SPEC",
        help='e.g. "one_cycle(0.1, steps=1000)"; the names are in `keras-lrsched --help`',
    )
    p.add_argument("--steps", type=_count, required=True, help="how many steps (1e8 is fine)")
    p.add_argument("-o", "--output", required=True, help="the .npy file to write")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.set_defaults(run=_table)

    p = sub.add_parser("plot", help="draw a schedule (or a saved .npy table) to an image")
    p.add_argument("spec", metavar="SPEC", help="a spec string, or a .npy table")
    p.add_argument(
        "--steps", type=_count, default=None,
        help="how many steps (default: the schedule's own length, else 1000)",
    )
    p.add_argument("-o", "--output", required=True, help="the image to write (.png, .svg, .pdf)")
    p.add_argument("--dpi", type=int, default=120)
    p.set_defaults(run=_plot)

    p = sub.add_parser(
        "demo",
        help="train a small model on scikit-learn's digits with a schedule",
        description="Train a small Keras model on scikit-learn's digits (no download) under the "
        "backend in KERAS_BACKEND, print the lr and metrics per epoch, save a PNG.",
    )
    p.add_argument(
        "--schedule", default=None, metavar="SPEC",
        help="a spec; indexed by epoch with --update epoch, by step with --update step "
        "(default: a one-cycle over the whole run)",
    )
    p.add_argument("--update", choices=["epoch", "step"], default="step")
    p.add_argument("--epochs", type=_count, default=15)
    p.add_argument("--batch-size", type=_count, default=32)
    p.add_argument(
        "--cycle-momentum", action="store_true",
        help="cycle SGD's momentum against the lr, as torch's OneCycleLR and fastai's "
        "fit_one_cycle do (a one_cycle or cyclic schedule)",
    )
    p.add_argument("-o", "--output", default="keras_lrsched_demo.png", help="the PNG to write")
    p.set_defaults(run=_demo)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (0 on success)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else 0
    try:
        args.run(args)
    except (ValueError, TypeError, OSError, ImportError) as err:
        if os.environ.get("KERAS_LRSCHED_TRACEBACK"):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0
