"""gradlab on a bundled example: check a layer norm's hand-written VJP and JVP, then a buggy VJP.

Run: python examples/demo.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from layernorm import layernorm, layernorm_jvp, layernorm_vjp, layernorm_vjp_buggy

from gradlab import check_grads

rng = np.random.default_rng(0)
x = rng.normal(size=(4, 6))
w = rng.normal(size=6)
b = rng.normal(size=6)

for label, vjp in (("correct VJP", layernorm_vjp), ("buggy VJP", layernorm_vjp_buggy)):
    report = check_grads(layernorm, x, w, b, vjp=vjp, jvp=layernorm_jvp, name=f"layernorm ({label})")
    print(report.format())
    print()
