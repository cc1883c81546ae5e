"""Fuzz throughput of the registry on CuPy against NumPy, and the largest input checked in
projected mode on the GPU.

Run: python benchmarks/device_throughput.py [--examples N] [--sizes 1e7,1e8]

Both devices fuzz every (op, dtype) pair with the same seed and example count, one after the
other in one process; the script prints examples per second on each and their ratio, whether the
verdicts agree, then times one projected `check_grads` of tanh at each size on the GPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def fuzz_all(device: str, examples: int) -> tuple[float, int, dict[tuple[str, str], str]]:
    import gradlab.train  # noqa: F401  (the training core's layers register as ops)
    from gradlab.fuzz.driver import fuzz_op
    from gradlab.ops import REGISTRY

    verdicts, count = {}, 0
    started = time.perf_counter()
    for op in REGISTRY:
        for dtype in op.spec.dtypes:
            outcome = fuzz_op(op, dtype, max_examples=examples, seed_=0, device=device)
            verdicts[(op.name, dtype)] = outcome.status
            count += outcome.examples
    return time.perf_counter() - started, count, verdicts


def projected(sizes: list[int]) -> None:
    import cupy

    from gradlab import check_grads

    for n in sizes:
        try:
            x = cupy.asarray(np.random.default_rng(0).standard_normal(n, dtype=np.float32)).astype(cupy.float64)
            cupy.cuda.Device().synchronize()
            started = time.perf_counter()
            report = check_grads(cupy.tanh, x, vjp=lambda g, o, x: g * (1 - o * o), checks=("rev",))
            cupy.cuda.Device().synchronize()
            seconds = time.perf_counter() - started
            floor_start = time.perf_counter()
            out = cupy.tanh(x)
            _ = out * (1 - out * out)
            cupy.cuda.Device().synchronize()
            floor = time.perf_counter() - floor_start
            ratio = seconds / floor
            print(f"projected rev, n = {n:,}: {report.status}, {seconds * 1e3:.1f} ms ({ratio:.1f}x forward+VJP)")
            del x, out
            cupy.get_default_memory_pool().free_all_blocks()
        except Exception as exc:  # out of memory, say: report the size and stop
            print(f"projected rev, n = {n:,}: {type(exc).__name__}: {exc}")
            break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--sizes", default="1e6,1e7,1e8,4e8")
    args = parser.parse_args()
    import cupy

    print(f"GPU: {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}, CuPy {cupy.__version__}")
    cpu_s, cpu_n, cpu_v = fuzz_all("cpu", args.examples)
    gpu_s, gpu_n, gpu_v = fuzz_all("cuda", args.examples)
    speed = (gpu_n / gpu_s) / (cpu_n / cpu_s)
    print(
        f"registry, {args.examples} examples per (op, dtype): NumPy {cpu_n / cpu_s:.0f} examples/s ({cpu_s:.1f} s),"
        f" CuPy {gpu_n / gpu_s:.0f} examples/s ({gpu_s:.1f} s); CuPy/NumPy throughput {speed:.2f}"
    )
    differ = {k: (cpu_v[k], gpu_v[k]) for k in cpu_v if cpu_v[k] != gpu_v.get(k)}
    print("verdicts differ: " + (", ".join(f"{n}[{d}] cpu={a} gpu={b}" for (n, d), (a, b) in differ.items()) or "none"))
    projected([int(float(s)) for s in args.sizes.split(",")])


if __name__ == "__main__":
    main()
