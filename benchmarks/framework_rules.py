"""gradlab on ``torch.autograd.Function`` rules, against torch's own checkers on the same functions.

What it measures
----------------
For a handful of Functions written the ways people write them (an elementwise activation in the
``ctx`` style, a linear layer in the ``setup_context`` style with a ``jvp``, an RMSNorm and a
softmax that save only their input), each at a small and a larger input in float64:

* ``torch fast``: ``torch.autograd.gradcheck(F.apply, inputs, fast_mode=True)``;
* ``gradlab rev``: ``check_grads(F.apply, *inputs, mode="projected", checks=("rev", "form"))``,
  what torch's gradcheck checks (reverse mode, the rule's form), through gradlab's torch bridge:
  torch runs the user's backward, gradlab the numerics, a reentrancy test and its form checks;
* ``gradlab all``: the default checks in projected mode (``fwd`` and ``adj`` too where the
  Function has a ``jvp``);
* ``torch gg``: ``torch.autograd.gradgradcheck(F.apply, inputs, fast_mode=True)``, and
  ``gradlab o2``: ``check_grads(..., mode="projected", order=2)`` (torch's double backward).

Each time is the best of several repeats (``time.perf_counter``) after a warm-up call; the ratio
columns are gradlab's time over torch's fast mode measured in the same run. Every check must pass
(the rules are right): a row whose verdicts differ says so.

Run: ``python benchmarks/framework_rules.py`` (needs PyTorch; about half a minute). Always exits 0.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

REPEATS = 5


def best(fn: Callable[[], Any], repeats: int = REPEATS) -> float:
    fn()  # warm-up: imports, torch's first-call costs
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def functions(torch: Any) -> dict[str, tuple[Any, Callable[[int], tuple[Any, ...]]]]:
    """name -> (Function, inputs of size n): right rules."""
    Function = torch.autograd.Function

    class Softplus(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.nn.functional.softplus(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * torch.sigmoid(x)

    class Linear(Function):
        @staticmethod
        def forward(x, w, b):
            return x @ w.T + b

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0], inputs[1])
            ctx.save_for_forward(inputs[0], inputs[1])

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            return g @ w, g.T @ x, g.sum(0)

        @staticmethod
        def jvp(ctx, dx, dw, db):
            x, w = ctx.saved_tensors
            return dx @ w.T + x @ dw.T + db

    class RMSNorm(Function):
        @staticmethod
        def forward(ctx, x, weight):
            ctx.save_for_backward(x, weight)
            return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * weight

        @staticmethod
        def backward(ctx, g):
            x, weight = ctx.saved_tensors
            rms = torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
            gy = g * weight
            grad_x = gy / rms - x * (gy * x).mean(-1, keepdim=True) / rms**3
            return grad_x, (g * x / rms).reshape(-1, x.shape[-1]).sum(0)

    class Softmax(Function):
        @staticmethod
        def forward(ctx, x):
            y = torch.softmax(x, -1)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return y * (g - (g * y).sum(-1, keepdim=True))

    def rand(*shape: int) -> Any:
        return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(sum(shape)))

    return {
        "Softplus": (Softplus, lambda n: (rand(n, n),)),
        "Linear": (Linear, lambda n: (rand(n, n // 2), rand(n, n // 2), rand(n))),
        "RMSNorm": (RMSNorm, lambda n: (rand(n, n), rand(n))),
        "Softmax": (Softmax, lambda n: (rand(n, n),)),
    }


def measure(torch: Any, check_grads: Any, fn: Any, inputs: tuple[Any, ...]) -> tuple[dict[str, float], dict]:
    """Best times (s) and verdicts of torch's checkers and gradlab's on ``fn.apply`` at ``inputs``."""
    verdicts: dict[str, bool] = {}

    def leaves() -> list[Any]:  # tensors that torch's checkers differentiate (floating ones), the rest as given
        return [
            x.detach().requires_grad_(True) if isinstance(x, torch.Tensor) and x.is_floating_point() else x
            for x in inputs
        ]

    def torch_fast() -> None:
        verdicts["torch"] = torch.autograd.gradcheck(fn.apply, leaves(), fast_mode=True, raise_exception=False)

    def torch_gg() -> None:
        verdicts["torch gg"] = torch.autograd.gradgradcheck(fn.apply, leaves(), fast_mode=True, raise_exception=False)

    def gradlab(label: str, **options: Any) -> Callable[[], None]:
        def run() -> None:
            verdicts[label] = check_grads(fn.apply, *inputs, mode="projected", **options).passed

        return run

    times = {
        "torch": best(torch_fast),
        "rev": best(gradlab("rev", checks=("rev", "form"))),
        "all": best(gradlab("all")),
        "torch gg": best(torch_gg),
        "o2": best(gradlab("o2", order=2)),
    }
    return times, verdicts


def main() -> int:
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: pip install 'gradlab-check[torch]'")
        return 0
    from gradlab import check_grads

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; best of {REPEATS}, float64\n")
    header = (
        f"{'function':<10} {'n':>4} {'torch fast':>11} {'gradlab rev':>12} {'ratio':>6} {'gradlab all':>12}"
        f" {'ratio':>6} {'torch gg':>9} {'gradlab o2':>11} {'ratio':>6}"
    )
    print(header)
    for name, (fn, make) in functions(torch).items():
        for n in (4, 32, 256):
            times, verdicts = measure(torch, check_grads, fn, make(n))
            t_fast, t_rev, t_all, t_gg, t_o2 = (times[k] for k in ("torch", "rev", "all", "torch gg", "o2"))
            print(
                f"{name:<10} {n:>4} {t_fast * 1e3:>9.2f}ms {t_rev * 1e3:>10.2f}ms {t_rev / t_fast:>6.2f}"
                f" {t_all * 1e3:>10.2f}ms {t_all / t_fast:>6.2f} {t_gg * 1e3:>7.2f}ms {t_o2 * 1e3:>9.2f}ms"
                f" {t_o2 / t_gg:>6.2f}" + ("" if all(verdicts.values()) else f"   verdicts differ: {verdicts}")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
