"""The error of a numerical derivative as the step changes: the figure of docs/method.md.

The derivative of exp at x = 1 (exactly e) by the central difference and by gradlab's 4th-order
stencil, for steps from 1e-16 to 1: truncation error falls as the step shrinks, round-off error
rises, and the step gradlab chooses sits near the minimum of their sum.

    python docs/plot_step_error.py        # writes docs/img/step_error.png, prints the errors

The documentation build (docs/hooks.py) draws the same figure into the site.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from gradlab.check.numerics import sample, step_factor

X = 1.0
EXACT = math.e
EPS = float(np.finfo(np.float64).eps)
OUT = Path(__file__).resolve().parent / "img" / "step_error.png"


def taken(h: float, x: float = X) -> float:
    """The step actually taken: ``(x + h) - x`` in floating point."""
    return (x + h) - x


def derivative(method: str, h: float) -> float:
    """gradlab's estimate of exp'(X) with step ``h`` (as :mod:`gradlab.check.numerics` computes it)."""
    h = taken(h)
    samples = sample(lambda t: np.exp(np.float64(X + t)), np.exp(np.float64(X)), h, method, EPS, np)
    return float(samples.estimate(np).value)


def chosen_step(method: str) -> float:
    """The step gradlab starts from for ``method``: ``c * max(1, |x|)``, ``c = eps**(1/p)``."""
    return taken(step_factor(method, EPS) * max(1.0, abs(X)))


def models(h: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """The error model of each method: truncation ~ h**order * |f^(order+1)|, round-off ~ eps |f| / h."""
    f = EXACT  # every derivative of exp at 1
    return {
        "central": {"truncation": h**2 / 6 * f, "roundoff": EPS * f / h},
        "stencil": {"truncation": h**4 / 30 * f, "roundoff": 1.5 * EPS * f / h},
    }


def errors(steps: np.ndarray) -> dict[str, np.ndarray]:
    return {m: np.array([abs(derivative(m, h) - EXACT) for h in steps]) for m in ("central", "stencil")}


def figure() -> bytes:
    """The figure as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.logspace(-15, 0, 301)
    measured = errors(steps)
    model = models(steps)
    colours = {"central": "tab:blue", "stencil": "tab:orange"}
    labels = {"central": "central difference (2nd order)", "stencil": "gradlab's stencil (4th order)"}
    fig, ax = plt.subplots(figsize=(8, 4.6), dpi=100)
    for m in ("central", "stencil"):
        c = colours[m]
        ax.loglog(steps, np.maximum(measured[m], 1e-17), color=c, lw=1, label=f"{labels[m]}: error")
        ax.loglog(steps, model[m]["truncation"], color=c, ls="--", lw=1, label="truncation (falls as h shrinks)")
        ax.loglog(steps, model[m]["roundoff"], color=c, ls=":", lw=1.2, label="round-off (rises as h shrinks)")
        h = chosen_step(m)
        err = max(abs(derivative(m, h) - EXACT), 1e-17)
        ax.plot([h], [err], "o", color=c, ms=8, mec="black", label=f"chosen step h = {h:.1e}: error {err:.1e}")
    ax.set_ylim(1e-17, 1e1)
    ax.set_xlabel("step h")
    ax.set_ylabel("|numeric - exact| of d/dx exp(x) at x = 1")
    ax.set_title("Error of a numerical derivative as the step changes")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper center", ncol=2)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def main() -> None:
    for m in ("central", "stencil"):
        h = chosen_step(m)
        print(f"{m:8s} chosen step {h:.3e}  error {abs(derivative(m, h) - EXACT):.2e}")
    steps = np.logspace(-15, 0, 301)
    for m, err in errors(steps).items():
        best = int(np.argmin(err))
        print(f"{m:8s} best step   {steps[best]:.3e}  error {err[best]:.2e} (the minimum over the plotted steps)")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_bytes(figure())
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
