"""Assemble bench/RESULTS.md from the outputs the benchmarks wrote in bench/results/."""

import datetime
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def read(name):
    path = os.path.join(RESULTS, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read().strip()


def main():
    info = {}
    for name in ("tables.json", "startup.json", "callback.json"):
        path = os.path.join(RESULTS, name)
        if os.path.exists(path):
            with open(path) as f:
                info = json.load(f).get("machine", info) or info
            break
    parts = ["# Benchmark results", ""]
    parts.append(f"Written by `bench/write_results.py` on {datetime.date.today().isoformat()} from "
                 "`bench/results/`; `bash bench/run_all.sh` reruns everything. What the numbers mean, "
                 "and what is left, is in `bench/README.md`.")
    if info:
        parts += ["", f"- Machine: {info.get('cpu')}, {info.get('cores')} cores "
                      f"(Numba {info.get('numba_threads')} threads, {info.get('threading_layer')} layer)",
                  "- Versions: " + ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())]
    sections = [
        ("Tables", "tables.md", "![ns per step against N, per family](results/tables.png)"),
        ("Start-up", "startup.md", None),
        ("Callback", "callback.md", None),
        ("Repeated fits", "refit.md", None),
        ("Hook time, before and after the lifecycle change", "hooks_ab.md", None),
    ]
    for title, name, extra in sections:
        text = read(name)
        parts += ["", f"## {title}", ""]
        parts.append(text if text else f"(not run: `bench/results/{name}` is missing)")
        if extra and text:
            parts += ["", extra]
    parts += ["", "## GPU", ""]
    gpu = read("gpu.md")
    if gpu:
        parts.append(gpu)
    else:
        parts.append("No GPU was available for this run. `bench/gpu_check.py` is ready: on a machine "
                     "with a CUDA GPU it runs a 1e8-step fit in step mode under JAX and Torch and "
                     "reports where the lr lives, host transfers / CUDA syncs per step, and step time "
                     "against no callback. Without a GPU it says so and exits 0.")
        dry = read("gpu_dry_run_cpu.md")
        if dry:
            parts += ["", "Its dry run on this CPU (`--allow-cpu`; no GPU claims):", "", dry]
    with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
        f.write("\n".join(parts) + "\n")
    print(f"wrote {os.path.join(HERE, 'RESULTS.md')}")


if __name__ == "__main__":
    main()
