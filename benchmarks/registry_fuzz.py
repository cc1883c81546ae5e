"""Wall time and examples per second to fuzz the whole registry under the quick (CI) profile.

Run: python benchmarks/registry_fuzz.py [--workers N] [--examples N]

Every (op, dtype) pair is fuzzed in a process pool of N workers (default: all cores), as
`gradlab check --registry` does on one core. Target: the whole registry in under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor


def _fuzz(job: tuple[str, str, int]) -> tuple[str, str, str, int, float]:
    import gradlab.train  # noqa: F401  (the training core's layers register as ops)
    from gradlab.fuzz.driver import fuzz_op
    from gradlab.ops import REGISTRY

    name, dtype, examples = job
    outcome = fuzz_op(REGISTRY[name], dtype, max_examples=examples)
    return name, dtype, outcome.status, outcome.examples, outcome.seconds


def main() -> None:
    import gradlab.train  # noqa: F401  (the training core's layers register as ops)
    from gradlab.fuzz.profiles import PROFILES
    from gradlab.ops import REGISTRY

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--examples", type=int, default=PROFILES["quick"])
    args = parser.parse_args()
    jobs = [(o.name, d, args.examples) for o in REGISTRY for d in o.spec.dtypes]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(_fuzz, jobs))
    wall = time.perf_counter() - started
    examples = sum(r[3] for r in results)
    slowest = sorted(results, key=lambda r: -r[4])[:8]
    bad = [r for r in results if r[2] not in ("pass", "xfail")]
    print(f"registry: {len(REGISTRY)} ops, {len(jobs)} (op, dtype) pairs, {args.examples} examples each")
    print(f"workers: {args.workers}   wall: {wall:.1f} s   examples: {examples}   examples/s: {examples / wall:.0f}")
    print("slowest pairs: " + ", ".join(f"{n}[{d}] {s:.2f}s" for n, d, _, _, s in slowest))
    print("not passing: " + (", ".join(f"{n}[{d}] {st}" for n, d, st, _, _ in bad) or "none"))
    target = 60.0
    verdict = "PASS" if wall < target else "MISS"
    print(f"target: whole registry under {target:.0f} s on 2 cores -> {verdict} ({wall:.1f} s)")


if __name__ == "__main__":
    main()
