"""Second order: the derivatives of the first-order rules, checked as first-order rules are.

* ``order=2``: the VJP is a function ``G(g, *inputs)`` and the JVP a function ``H(t, *inputs)``;
  their own VJP and JVP come from the framework they are written in
  (:mod:`gradlab.check.differentiators`: gradlab's training core for ``f`` and rules written with
  ``gradlab.ops``). The ``rev2`` check compares the VJP's VJP with numerical derivatives of ``G``,
  the ``fwd2`` check the JVP's JVP with those of ``H``. A second-order term a rule leaves out
  (``out`` treated as a constant, a product rule half done) shows as a wrong entry there.
* ``hvp=``: a Hessian-vector product of a scalar ``f`` in SciPy's ``hessp(x, p, *args)``
  convention is the JVP of the gradient (the VJP at ``g = 1``) and, the Hessian being symmetric,
  its VJP too: the ``hvp`` check compares ``H u`` with numerical derivatives of the gradient along
  ``u``, the ``hsym`` check ``<v, H u>`` with ``<H v, u>``.

Each runs the first-order check (``check``: :func:`~gradlab.check.grads.check_grads`) on the
first-order rule as a function, so the numerics, the tolerances, the step search and the report
are the first order's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from gradlab import backend
from gradlab.check import pytree
from gradlab.check.differentiators import Differentiator, registered
from gradlab.check.results import CheckName, CheckResult
from gradlab.errors import GradlabError

if TYPE_CHECKING:
    from gradlab.check.structured import Structured
    from gradlab.check.task import Task

Array = Any

_RENAMED: dict[str, dict[str, CheckName]] = {
    "order2-vjp": {"rev": "rev2"},
    "order2-jvp": {"fwd": "fwd2"},
    "hvp": {"fwd": "hvp", "adj": "hsym"},
}


def _options(task: Task) -> dict[str, Any]:
    return {
        # projected stays projected (its cost does not grow with the size); full is re-chosen for the
        # rule's own inputs (a VJP's are the cotangent and the inputs: more elements)
        "mode": "projected" if task.mode == "projected" else "auto", "method": task.method, "rtol": task.rtol,
        "atol": task.atol, "seed": task.seed,
        "probes": task.n_probes,
    }  # fmt: skip


def _plain(problem: Structured, what: str) -> list[int]:
    """The positions of the differentiated inputs; raises unless every input is a plain array
    or a non-array (second order does not take pytrees, complex values or spaces yet)."""
    for leaf in problem.leaves:
        if leaf.kind in ("complex", "holomorphic") or leaf.space is not None or "[" in leaf.path or "." in leaf.path:
            raise GradlabError(
                f"{what} takes real arrays (no pytrees, complex values or spaces yet): {leaf.path} is not one"
            )
    return [leaf.position for leaf in problem.leaves if leaf.differentiated]


def _per_input(result: Any, n: int, diff: list[int]) -> list[Any]:
    """The cotangents of the differentiated inputs from what a VJP returned."""
    if isinstance(result, (tuple, list)):
        if len(result) == n:
            return [result[p] for p in diff]
        if len(result) == len(diff):
            return list(result)
    elif len(diff) == 1:
        return [result]
    raise GradlabError(f"the VJP returned {type(result).__name__}; expected one cotangent per input")


def _framework(what: str, rule: Callable[..., Any], args: Sequence[Any]) -> Differentiator:
    """The differentiator whose traced values ``rule`` (with ``f`` inside it) runs on and returns;
    raises ``GradlabError`` when none does: a rule of NumPy calls cannot be differentiated, and
    saying so is the only honest verdict (a check would blame a rule that may well be right)."""
    tried = []
    for framework in registered():
        try:
            lifted = [framework.lift(a) if backend.is_array(a) else a for a in args]
        except LookupError:  # a framework the user's code does not use (not imported)
            continue
        try:
            result = rule(*lifted)
        except Exception as exc:  # not written in this framework
            tried.append(f"on {framework.name}'s values it raised {type(exc).__name__}: {exc}")
            continue
        leaves = [leaf for leaf in pytree.flatten(result)[0] if leaf is not None]
        if leaves and all(framework.owns(leaf) for leaf in leaves):
            return framework
        kinds = sorted({type(leaf).__name__ for leaf in leaves if not framework.owns(leaf)}) or ["nothing"]
        tried.append(f"on {framework.name}'s values it returned {', '.join(kinds)}: a NumPy call cut the graph")
    raise GradlabError(
        f"order=2 differentiates {what} in the framework it is written in, and none could: "
        + ("; ".join(tried) or "no differentiator is installed")
        + ". Write f and the rules with gradlab.ops functions (gradlab.ops.cos(x), x @ w, x.sum(axis=0))"
        " instead of NumPy calls"
    )


def check_second_order(
    check: Callable[..., Any],
    problem: Structured,
    task: Task,
    vjp: Callable[..., Any] | None,
    jvp: Callable[..., Any] | None,
) -> list[CheckResult]:
    """The ``rev2`` check of the VJP and the ``fwd2`` check of the JVP (those given)."""
    diff = _plain(problem, "order=2")
    f, kwargs = problem.f, problem.kwargs
    inputs = [leaf.value for leaf in problem.leaves]
    n, names, xp = len(inputs), problem.roots, problem.xp
    results: list[CheckResult] = []
    out = f(*inputs, **kwargs)
    if vjp is not None:

        def first_vjp(g: Any, *xs: Any) -> tuple[Any, ...]:
            return tuple(_per_input(vjp(g, f(*xs, **kwargs), *xs, **kwargs), n, diff))

        g0 = _probe(xp, out, task.seed + 1)
        framework = _framework("the VJP", first_vjp, [g0, *inputs])

        def vjp_of_vjp(w: Any, _: Any, g: Array, *xs: Any) -> tuple[Any, ...]:
            ws = w if isinstance(w, tuple) else (w,)

            def scalar(gt: Any, *dt: Any) -> Any:  # <w, G(g, x)>: its gradient is G's VJP at w
                full = list(xs)
                for p, t in zip(diff, dt, strict=True):
                    full[p] = t
                # a framework whose values do not mix with NumPy's (torch) makes the weights its own
                constant = getattr(framework, "constant", lambda a: a)
                cots = zip(first_vjp(gt, *full), ws, strict=True)
                terms = [(c * constant(wk)).sum() for c, wk in cots if framework.owns(c)]
                total = terms[0]
                for term in terms[1:]:
                    total = total + term
                return total

            grads = framework.grad(scalar, [g, *(xs[p] for p in diff)])
            full_grads: list[Any] = [None] * n
            for p, d in zip(diff, grads[1:], strict=True):
                full_grads[p] = d
            return (grads[0], *full_grads)

        inner = check(
            first_vjp, g0, *inputs, vjp=vjp_of_vjp, wrt=(0, *(p + 1 for p in diff)), checks=("rev", "form"),
            name=f"{task.name} VJP", names=["g", *names], **_options(task),
        )  # fmt: skip
        results += _renamed(inner.results, "order2-vjp", "the VJP (order 2)")
    if jvp is not None:
        k = len(diff)

        def first_jvp(*ts_and_xs: Any) -> Any:
            ts, xs = ts_and_xs[:k], ts_and_xs[k:]
            tangents: list[Any] = [None] * n
            for p, t in zip(diff, ts, strict=True):
                tangents[p] = t
            return jvp(tuple(tangents), f(*xs, **kwargs), *xs, **kwargs)

        t0 = [_probe(xp, inputs[p], task.seed + 2 + p) for p in diff]
        jvp_framework = _framework("the JVP", first_jvp, [*t0, *inputs])
        moving = list(range(k)) + [k + p for p in diff]

        def jvp_of_jvp(tangents: Sequence[Any], _: Any, *ts_and_xs: Any) -> Any:
            def traced(*moved: Any) -> Any:
                full = list(ts_and_xs)
                for j, m in zip(moving, moved, strict=True):
                    full[j] = m
                return first_jvp(*full)

            primals = [ts_and_xs[j] for j in moving]
            directions = [tangents[j] if tangents[j] is not None else xp.zeros_like(ts_and_xs[j]) for j in moving]
            return jvp_framework.jvp(traced, primals, directions)

        inner = check(
            first_jvp, *t0, *inputs, jvp=jvp_of_jvp, wrt=tuple(moving), checks=("fwd", "form"),
            name=f"{task.name} JVP", names=[f"t_{names[p]}" for p in diff] + list(names), **_options(task),
        )  # fmt: skip
        results += _renamed(inner.results, "order2-jvp", "the JVP (order 2)")
    return results


def check_hvp(
    check: Callable[..., Any],
    f: Callable[..., Any],
    inputs: Sequence[Any],
    problem: Structured,
    task: Task,
    vjp: Callable[..., Any] | None,
    hvp: Callable[..., Any],
    kwargs: Mapping[str, Any],
) -> list[CheckResult]:
    """The ``hvp`` and ``hsym`` checks of a Hessian-vector product ``hvp(x, p, *args)``."""
    if vjp is None:
        raise GradlabError(
            "hvp= is checked against differences of the gradient: give vjp= too (with SciPy's jac:"
            " vjp=lambda g, out, x, *args: g * jac(x, *args))"
        )
    if not callable(hvp):
        raise GradlabError(f"hvp must be callable, got {type(hvp).__name__}")
    diff = _plain(problem, "hvp=")
    if diff != [0]:
        raise GradlabError("hvp= differentiates the first input only (SciPy's hessp(x, p, *args)): pass wrt=(0,)")
    xp = problem.xp
    out = f(*inputs, **kwargs)
    if not backend.is_array(out) or int(out.size) != 1:
        raise GradlabError(f"hvp= needs a scalar f: f returns shape {getattr(out, 'shape', type(out).__name__)}")

    def gradient(x: Array, *args: Any) -> Array:
        value = f(x, *args, **kwargs)
        return _per_input(vjp(xp.ones_like(value), value, x, *args, **kwargs), len(inputs), [0])[0]

    def as_jvp(tangents: Sequence[Any], _: Any, x: Array, *args: Any) -> Array:
        return hvp(x, tangents[0], *args, **kwargs)

    def as_vjp(g: Array, _: Any, x: Array, *args: Any) -> Array:
        return hvp(x, g, *args, **kwargs)  # the Hessian is symmetric: H^T v = H v

    inner = check(
        gradient, *inputs, vjp=as_vjp, jvp=as_jvp, wrt=(0,), checks=("fwd", "adj", "form"),
        name=f"{task.name} gradient", names=list(problem.roots), **_options(task),
    )  # fmt: skip
    results = _renamed(inner.results, "hvp", "the Hessian-vector product")
    for r in results:
        r.subject = {"hvp": problem.roots[0], "hsym": "H"}.get(r.check, r.subject)
    return results


def _renamed(results: list[CheckResult], kind: str, what: str) -> list[CheckResult]:
    """The inner checks' results under their second-order names; a passing form check is left to
    the first order's, a failing one says which rule it is about."""
    kept = []
    for r in results:
        if r.check == "form":
            if r.status == "pass":
                continue
            r.subject = what
            r.details = [f"{what}: {d}" for d in r.details]
            kept.append(r)
            continue
        r.check = _RENAMED[kind].get(r.check, r.check)
        kept.append(r)
    return kept


def _probe(xp: Any, like: Array, seed: int) -> Array:
    """A fixed signed random array shaped like ``like`` (the point a rule's own rule is checked at)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return cast(Array, backend.signed_probe(rng, xp, tuple(like.shape), like.dtype, backend.device(like)))
