"""``check_grads``: the checks ``rev``, ``fwd``, ``adj`` and ``form`` of one function at one input.

A call runs these steps, each in its own module:

1. the user's values become the canonical problem (:mod:`gradlab.check.structured`: pytrees,
   complex values, tangent spaces, keyword arguments), checked as a
   :class:`~gradlab.check.task.Task` (what to check, and how); the report is told in the user's
   terms again at the end (:mod:`gradlab.check.leaf_report`);
2. the forward runs (:mod:`gradlab.check.form`): it must return a finite floating array;
3. a :class:`~gradlab.check.sampling.Sampler` chooses the precision of the numerics (float64
   when the function runs there) and draws the random probes every check shares;
4. the VJP and the JVP run at every probe (:mod:`gradlab.check.form`: shapes, dtypes, mutation);
5. full mode differentiates the forward element by element once, for ``rev`` and ``fwd`` alike
   (cost growing with the input size); projected mode samples along each probe when a check asks
   (cost independent of the size; a failing projection is bisected to the wrong entries);
6. each check compares (:mod:`~gradlab.check.rev`, :mod:`~gradlab.check.fwd`,
   :mod:`~gradlab.check.adj`), and the results are read together: which rule holds the error;
7. the ``form`` check's determinism: the forward, the VJP and the JVP run a second time, each
   unless checks that used its first calls all passed (``rev`` or ``fwd`` for the forward, when
   they differenced it at the inputs as given with real steps; ``rev`` or ``adj`` for the VJP;
   ``fwd`` or ``adj`` for the JVP): values that pass them agree with the numerics or with each
   other, which random ones do not. A forward whose second call differs leaves only that failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numpy as np

from gradlab import backend
from gradlab.check import bridges, form, holomorphy, leaf_report, pytree, second_order
from gradlab.check import complex_values as cv
from gradlab.check.adj import check_adj
from gradlab.check.fwd import check_fwd
from gradlab.check.results import CheckResult, GradCheckReport, Status
from gradlab.check.rev import check_rev
from gradlab.check.rounding import vjp_rounding
from gradlab.check.rule_order import reordered
from gradlab.check.sampling import Sampler
from gradlab.check.structured import Structured
from gradlab.check.task import CHECKS, Task, check_keywords, input_names
from gradlab.errors import GradlabError

Array = Any


def check_grads(
    f: Callable[..., Any],
    *inputs: Any,
    vjp: Callable[..., Any] | None = None,
    jvp: Callable[..., Any] | None = None,
    hvp: Callable[..., Any] | None = None,
    wrt: Sequence[int] | None = None,
    mode: str = "auto",
    method: str = "stencil",
    rtol: float | None = None,
    atol: float | None = None,
    probes: int | None = None,
    seed: int = 0,
    checks: Sequence[str] = CHECKS,
    name: str | None = None,
    names: Sequence[str] | None = None,
    complex_safe: bool = False,
    convention: str | None = None,
    holomorphic: bool = False,
    spaces: Mapping[Any, Any] | None = None,
    order: int = 1,
    **kwargs: Any,
) -> GradCheckReport:
    """Check a VJP and/or JVP rule of ``f`` at ``inputs`` against numerics and each other.

    Parameters
    ----------
    f
        The forward, ``f(*inputs, **kwargs) -> out``; ``out`` a floating (real or complex) array or
        a pytree of them (nested tuples, lists, named tuples, dicts).
    *inputs
        Arrays (NumPy, CuPy or any array-API library), pytrees of arrays, and other arguments (an
        axis, labels): every floating array leaf is differentiated unless ``wrt`` says otherwise.
    vjp
        Without ``vjp``, ``jvp`` and ``hvp``, a function of PyTorch, JAX or HIPS autograd (a
        ``Function``'s ``apply``, a ``custom_vjp``, a primitive; any function of their arrays) is
        checked through its framework's own rules (:mod:`gradlab.check.bridges`).
        ``vjp(g, out, *inputs, **kwargs)``: ``g`` and ``out`` shaped like the forward's output;
        returns one cotangent per input, shaped like it (``None`` allowed for undifferentiated
        ones), or one per differentiated input, or a single one when one input is differentiated.
    jvp
        ``jvp(tangents, out, *inputs, **kwargs)`` returning the output tangent (shaped like
        ``out``); ``tangents`` holds one value per input, shaped like it, ``None`` where nothing
        is differentiated.
    hvp
        A Hessian-vector product of a scalar ``f`` in SciPy's ``hessp`` convention,
        ``hvp(x, p, *args, **kwargs) -> H p`` (``x`` the first input, the only differentiated one);
        checked against differences of the gradient ``vjp`` gives (so ``vjp`` is needed too), and
        for the Hessian's symmetry.
    wrt
        Indices of the differentiated inputs (every floating leaf under them); default: all.
    mode
        ``"full"`` compares every Jacobian entry, ``"projected"`` compares random projections
        (cost independent of the input size) and locates wrong entries when one fails;
        ``"auto"`` picks full mode up to 256 differentiated elements.
    method
        ``"stencil"`` (4th order, default), ``"central"``, ``"richardson"`` (high accuracy) or
        ``"complex"`` (complex step: a numerical method for real functions that accept complex input).
    rtol, atol
        Tolerances; default per dtype of the analytic result (see :mod:`gradlab.check.tolerances`).
    probes
        Random probe pairs ``(u, v)``; default 2 in full mode, 1 in projected mode.
    seed
        Seed of the probes.
    checks
        Which of ``"rev"``, ``"fwd"``, ``"adj"``, ``"form"`` to run (those whose rule is given).
    name, names
        Names of the function and of its inputs for the report (default: from ``f``'s signature);
        a leaf inside an input is named by its path, ``params['W']``.
    complex_safe
        ``f`` accepts complex inputs and is analytic there (no ``abs``, ``max``, comparisons): where
        no real finite-difference step settles an entry, the complex step decides it instead of
        leaving it *undecided*.
    convention
        How complex cotangents are written: ``"torch"`` (the conjugate Wirtinger gradient,
        ``dL/da + i dL/db`` for ``z = a + ib``) or ``"jax"`` (its conjugate). Tangents are the same
        in both. Default: the framework's own for a framework's function (``"jax"`` for JAX), else
        ``"torch"``.
    holomorphic
        ``f`` is complex-analytic in its complex inputs and the rules are complex-linear: only the
        real parts are moved (half the evaluations of a general complex function).
    spaces
        Per input (by index, name or leaf path) a tangent space the input may only move in:
        ``"symmetric"``, ``"spd"``, ``"lower"``, ``"simplex"``, ``"sphere"``, ``"orthogonal"`` or a
        projector ``P(d, x)``; the rules are compared on that space only.
    order
        ``2`` also checks the rules' own derivatives: the VJP's VJP and the JVP's JVP against
        numerics of the first-order rules, which must be written with ``gradlab.ops`` (they are
        differentiated by running them on gradlab Tensors).
    **kwargs
        Keyword arguments passed to ``f`` and to the rules, never differentiated
        (``check_grads(np.sum, x, vjp=..., axis=0)``).

    Returns
    -------
    GradCheckReport
        One :class:`CheckResult` per check and subject; ``report.passed`` is the verdict.
    """
    if order not in (1, 2):
        raise GradlabError(f"order={order!r}: choose 1 or 2")
    if kwargs:
        check_keywords(f, kwargs, OPTIONS)
    bridged = bridges.adopt(f, inputs, wrt, kwargs, order) if vjp is None and jvp is None and hvp is None else None
    if bridged is not None:  # a framework's function: its own rules, on gradlab's arrays
        name = name or bridged.name or _name_of(f)
        names = names or bridged.names or input_names(f, len(inputs), None)
        convention, order = convention or bridged.convention, 1 if bridged.once else order
        rtol, atol = bridged.rtol if rtol is None else rtol, bridged.atol if atol is None else atol
        f, inputs, vjp, jvp = bridged.forward, bridged.inputs, bridged.vjp, bridged.jvp
    convention = convention or "torch"
    vjp, jvp = reordered(vjp, "vjp"), reordered(jvp, "jvp")

    def run(convention: str, checks: Sequence[str]) -> tuple[GradCheckReport, Structured, Task]:
        # 1. the user's values as the checks see them: real arrays in, one real array out
        problem = _structured(f, inputs, wrt, names, kwargs, convention, holomorphic, spaces, method, complex_safe)
        task = Task.from_arguments(
            problem.forward, problem.inputs, problem.vjp_rule(vjp) if vjp else None,
            problem.jvp_rule(jvp) if jvp else None, problem.wrt, mode, method, rtol, atol, probes, seed, checks,
            name or _name_of(f), problem.names, complex_safe,
        )  # fmt: skip
        return leaf_report.relabel(_check(task), problem), problem, task

    report, problem, task = run(convention, checks)
    if holomorphic and "form" in task.checks:  # a false claim would leave half of the rule unchecked
        _not_holomorphic(report, holomorphy.violations(problem, seed))
    if vjp is not None:  # a VJP wrong for a complex input: is it right in the other convention?
        cv.convention_hint(report, problem, lambda other: run(other, ("rev",))[0])
    report.left_out += bridged.notes if bridged is not None else []
    if order == 2:
        report.results += second_order.check_second_order(check_grads, problem, task, vjp, jvp)
    if hvp is not None:
        report.results += second_order.check_hvp(check_grads, f, inputs, problem, task, vjp, hvp, kwargs)
    return report


def _not_holomorphic(report: GradCheckReport, found: list[str]) -> None:
    form_result = report.result("form")
    if not found or form_result is None:
        return
    form_result.status = "fail"
    form_result.details += found
    form_result.message = "; ".join(form_result.details)


# the options of check_grads, for a misspelled one's hint
OPTIONS = (
    "vjp", "jvp", "hvp", "wrt", "mode", "method", "rtol", "atol", "probes", "seed", "checks", "name", "names",
    "complex_safe", "convention", "holomorphic", "spaces", "order",
)  # fmt: skip


def _name_of(f: Callable[..., Any]) -> str:
    # an Op knows its name; a function its __name__
    return cast(str, getattr(f, "name", None) or getattr(f, "__name__", type(f).__name__))


def _structured(
    f: Callable[..., Any],
    inputs: Sequence[Any],
    wrt: Sequence[int] | None,
    names: Sequence[str] | None,
    kwargs: Mapping[str, Any],
    convention: str,
    holomorphic: bool,
    spaces: Mapping[Any, Any] | None,
    method: str,
    complex_safe: bool,
) -> Structured:
    if not callable(f):
        raise GradlabError(f"f must be callable, got {type(f).__name__}")
    leaves = [leaf for x in inputs for leaf in pytree.flatten(x)[0]]
    xp = backend.namespace(*leaves)
    problem = Structured(
        xp, f, inputs, input_names(f, len(inputs), names), wrt, kwargs, convention, holomorphic, spaces
    )
    complex_leaves = any(leaf.kind in ("complex", "holomorphic") and leaf.differentiated for leaf in problem.leaves)
    if complex_leaves and (method == "complex" or complex_safe):
        raise GradlabError(
            "the complex step is a numerical method for real functions; with complex inputs use a real"
            " method (stencil, central, richardson) and leave complex_safe off"
        )
    return problem


def _check(task: Task) -> GradCheckReport:
    """The checks of the canonical problem (real arrays in, one real array out)."""
    results: list[CheckResult] = []
    problems: list[str] = []  # of the form check: every rule call adds what it saw
    evaluations = 0
    left_out: list[str] = []
    # domain errors of the user's function at perturbed points are expected and handled
    with np.errstate(all="ignore"):
        out = _forward(task, problems, results)  # 2. the forward
        if out is not None:
            sampler = Sampler(task, out)  # 3. the precision of the numerics, the probes
            forward_problems = list(problems)
            try:
                _run_checks(sampler, problems, results)  # 4 to 7
            except Exception:  # at a perturbed input: a forward that is not deterministic says why
                if not (task.strict and _forward_differs(task, out, forward_problems, problems, results)):
                    raise
            evaluations = sampler.evaluations
            left_out = sampler.part.describe(task.names, task.inputs, out)
    if "form" in task.checks and not any(r.check == "form" for r in results):
        status: Status = "fail" if problems else "pass"
        results.insert(0, CheckResult("form", status, "rules", "; ".join(problems), details=problems))
    return GradCheckReport(
        name=task.name,
        results=results,
        input_shapes=[tuple(x.shape) if backend.is_array(x) else None for x in task.inputs],
        input_dtypes=[form.dtype_name(x.dtype) if backend.is_array(x) else type(x).__name__ for x in task.inputs],
        input_names=task.names,
        wrt=task.wrt,
        mode=task.mode,
        method=task.method,
        seed=task.seed,
        evaluations=evaluations,
        left_out=left_out,
    )


def _forward(task: Task, problems: list[str], results: list[CheckResult]) -> Array | None:
    """The forward's output, or None (with the failed ``form`` result) when the checks cannot go on."""
    xp = task.xp
    first = form.call_forward(xp, task.f, task.inputs, task.names, task.strict)
    problems += first.problems
    if not first.usable:
        results.append(CheckResult("form", "fail", "forward", "; ".join(problems), details=problems))
        return None
    out = first.value
    if not bool(xp.all(xp.isfinite(out))) and (_finite_inputs(task) or not bool(xp.any(xp.isfinite(out)))):
        # (where inputs hold NaN or Inf, the finite part of the output is checked: finite_part.py)
        message = (
            "the forward returns NaN or Inf at these inputs: they are outside the op's domain,"
            " choose inputs where it is finite"
        )
        results.append(CheckResult("form", "invalid", "forward", message))
        return None
    return out


def _forward_differs(
    task: Task, out: Array, forward_problems: list[str], problems: list[str], results: list[CheckResult]
) -> bool:
    """Call the forward again; when it differs, the report is that failure alone (no numerical
    derivative of such a function means anything): ``problems`` and ``results`` are replaced."""
    second = form.call_forward(task.xp, task.f, task.inputs, task.names)
    if not second.usable or form.differs(task.xp, out, second.value) is None:
        return False
    problems[:] = [
        *forward_problems,
        "the forward is not deterministic: two calls with the same inputs differ"
        " (random numbers without a fixed seed?); numerical derivatives need a deterministic function",
    ]
    results[:] = [CheckResult("form", "fail", "forward", "; ".join(problems), details=problems)]
    return True


def _finite_inputs(task: Task) -> bool:
    """Whether every floating input is finite (then a NaN or Inf in the output is the domain's)."""
    xp = task.xp
    return all(
        bool(xp.all(xp.isfinite(x)))
        for x in task.inputs
        if backend.is_array(x) and x.size and (backend.is_floating(xp, x.dtype) or backend.is_complex(xp, x.dtype))
    )


def _run_checks(sampler: Sampler, problems: list[str], results: list[CheckResult]) -> None:
    task, out = sampler.task, sampler.out
    wanted = set(task.checks)
    forward_problems = list(problems)
    need_vjp = task.vjp is not None and bool(wanted & {"rev", "adj", "form"})
    need_jvp = task.jvp is not None and bool(wanted & {"fwd", "adj", "form"})
    # 4. the rules at every probe
    warnings: list[str] = []  # legal but suspect: a float32 input's gradient promoted to float64
    cots = form.vjp_values(task, out, sampler.probes, problems, warnings) if need_vjp else None
    after_vjp = len(problems)  # where the VJP's determinism goes, in the order the calls were made
    tans = form.jvp_values(task, out, sampler.probes, problems, warnings) if need_jvp else None
    sampler.judge = cots is not None
    run_rev, run_fwd = "rev" in wanted and cots, "fwd" in wanted and tans
    # 5. full mode: every Jacobian column once, shared by rev and fwd (projected mode samples on demand)
    if task.mode == "full" and (run_rev or run_fwd):
        sampler.full_numerics()
    # 6. the checks (a float32 rule's limits with its own rounding), then what they say together
    if run_rev and cots:
        sampler.rounding = vjp_rounding(sampler, cots)
        results += [check_rev(sampler, i, cots) for i in task.wrt]
    if run_fwd and tans:
        results.append(check_fwd(sampler, tans))
    if "adj" in wanted and cots and tans:
        numerical = [r for r in results if r.check in ("rev", "fwd")]
        lenient = bool(run_rev and run_fwd) and all(r.status == "pass" for r in numerical)
        results.append(check_adj(sampler, cots, tans, lenient))
    _cross_diagnose(results)
    if "form" not in wanted:
        return
    # 7. determinism: a second call of what no passing check vouches for
    vouched = _vouched(sampler, results)
    if "forward" not in vouched and _forward_differs(task, out, forward_problems, problems, results):
        return
    if tans is not None and "jvp" not in vouched:
        problems += form.jvp_determinism(task, out, sampler.probes, tans)
    if cots is not None and "vjp" not in vouched:
        problems[after_vjp:after_vjp] = form.vjp_determinism(task, out, sampler.probes, cots)
    status: Status = "fail" if problems else "warning" if warnings else "pass"
    found = [*problems, *warnings]
    results.insert(0, CheckResult("form", status, "rules", "; ".join(found), details=found))


def _vouched(sampler: Sampler, results: list[CheckResult]) -> set[str]:
    """Which of ``"forward"``, ``"vjp"``, ``"jvp"`` the checks vouch are deterministic: each that a
    check used, when every check passed. Values that agree with the numerics (``rev``, ``fwd``) or
    with each other (``adj``) to their tolerances are not random; the forward counts as used when
    the numerics differenced it at the inputs as given (not at float64 copies) with real steps
    (a complex step does not see noise in the real part)."""
    task = sampler.task
    checked = [r for r in results if r.check in ("rev", "fwd", "adj")]
    if not checked or any(r.status != "pass" for r in checked):
        return set()
    ran = {r.check for r in checked}
    differenced = task.method != "complex" and all(
        a is b for a, b in zip(sampler.eval_inputs, task.inputs, strict=True)
    )
    users = {"forward": {"rev", "fwd"} if differenced else set(), "vjp": {"rev", "adj"}, "jvp": {"fwd", "adj"}}
    return {name for name, checks in users.items() if ran & checks}


def _cross_diagnose(results: list[CheckResult]) -> None:
    """Read the checks together: a rule that agrees with the numerics clears itself."""
    rev = [r for r in results if r.check == "rev"]
    fwd = next((r for r in results if r.check == "fwd"), None)
    adj = next((r for r in results if r.check == "adj"), None)
    if not rev or fwd is None:
        return
    rev_ok = all(r.status != "fail" for r in rev)
    if rev_ok and fwd.status == "fail":
        fwd.details.append("the VJP agrees with the numerical derivative, so the error is in the JVP")
    if not rev_ok and fwd.status != "fail":
        for r in rev:
            if r.status == "fail":
                r.details.append("the JVP agrees with the numerical derivative, so the error is in the VJP")
    if adj is not None and adj.status == "pass" and not rev_ok and fwd.status == "fail":
        adj.details.append(
            "the VJP and JVP agree with each other but not with the numerical derivative: they share the"
            " error, or they differentiate a different function than the forward computes"
        )
