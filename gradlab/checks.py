"""The gradient checks ``rev``, ``fwd``, ``adj`` and ``form`` of one function at one input.

All four share one set of evaluations: the forward once, the VJP and JVP once per probe, and
the numerical derivatives either element by element (``full`` mode: the whole Jacobian, cost
growing with the input size) or along one random direction per input and probe (``projected``
mode: cost independent of the size; a failing projection is then bisected over blocks of the
input until the wrong entries are found).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from gradlab import backend, diagnose, form, tolerances
from gradlab.compare import Numeric, agrees, compare, to_result
from gradlab.errors import GradlabError
from gradlab.localise import Localiser
from gradlab.numerics import METHODS, Samples
from gradlab.results import CheckName, CheckResult, GradCheckReport, Status
from gradlab.sampling import as_float, numeric_fields, xp_flat

Array = Any

CHECKS: tuple[CheckName, ...] = ("rev", "fwd", "adj", "form")
MODES = ("auto", "full", "projected")
# ``auto`` differentiates element by element up to this many differentiated input elements
FULL_MODE_LIMIT = 256


def check_grads(
    f: Callable[..., Any],
    *inputs: Any,
    vjp: Callable[..., Any] | None = None,
    jvp: Callable[..., Any] | None = None,
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
) -> GradCheckReport:
    """Check a VJP and/or JVP rule of ``f`` at ``inputs`` against numerics and each other.

    Parameters
    ----------
    f
        The forward, ``f(*inputs) -> out`` with ``out`` a floating array.
    *inputs
        Arrays (NumPy, CuPy or any array-API library) and other arguments (an axis, labels).
    vjp
        ``vjp(g, *inputs, out)`` returning one cotangent per input (``None`` allowed for
        undifferentiated ones), one per differentiated input, or a single array when only one
        input is differentiated.
    jvp
        ``jvp(tangents, *inputs, out)`` returning the output tangent; ``tangents`` holds one array
        per input, ``None`` for the undifferentiated ones.
    wrt
        Indices of the differentiated inputs; default: every real floating array.
    mode
        ``"full"`` compares every Jacobian entry, ``"projected"`` compares random projections
        (cost independent of the input size) and locates wrong entries when one fails;
        ``"auto"`` picks full mode up to 256 differentiated elements.
    method
        ``"stencil"`` (4th order, default), ``"central"``, ``"richardson"`` (high accuracy) or
        ``"complex"`` (complex step; only for functions that accept complex inputs).
    rtol, atol
        Tolerances; default per dtype of the analytic result (see :mod:`gradlab.tolerances`).
    probes
        Random probe pairs ``(u, v)``; default 2 in full mode, 1 in projected mode.
    seed
        Seed of the probes.
    checks
        Which of ``"rev"``, ``"fwd"``, ``"adj"``, ``"form"`` to run (those whose rule is given).
    name, names
        Names of the function and of its inputs for the report (default: from ``f``'s signature).

    Returns
    -------
    GradCheckReport
        One :class:`CheckResult` per check and subject; ``report.passed`` is the verdict.
    """
    run = _Run.start(f, inputs, vjp, jvp, wrt, mode, method, rtol, atol, probes, seed, checks, name, names)
    return run.report()


class _Run(Localiser):
    """State shared by the checks of one call to :func:`check_grads`."""

    @classmethod
    def start(
        cls,
        f: Callable[..., Any],
        inputs: Sequence[Any],
        vjp: Callable[..., Any] | None,
        jvp: Callable[..., Any] | None,
        wrt: Sequence[int] | None,
        mode: str,
        method: str,
        rtol: float | None,
        atol: float | None,
        probes: int | None,
        seed: int,
        checks: Sequence[str],
        name: str | None,
        names: Sequence[str] | None,
    ) -> _Run:
        if not callable(f):
            raise GradlabError(f"f must be callable, got {type(f).__name__}")
        if vjp is None and jvp is None:
            raise GradlabError("give a vjp=, a jvp= or both: there is no rule to check")
        for label, rule in (("vjp", vjp), ("jvp", jvp)):
            if rule is not None and not callable(rule):
                raise GradlabError(f"{label} must be callable, got {type(rule).__name__}")
        if mode not in MODES:
            raise GradlabError(f"mode={mode!r} is not one of {', '.join(MODES)}")
        if method not in METHODS:
            raise GradlabError(f"method={method!r} is not one of {', '.join(METHODS)}")
        unknown = set(checks) - set(CHECKS)
        if unknown:
            raise GradlabError(f"unknown checks {sorted(unknown)}: choose from {', '.join(CHECKS)}")
        if probes is not None and probes < 1:
            raise GradlabError(f"probes must be at least 1, got {probes}")
        run = cls()
        run.f, run.vjp, run.jvp = f, vjp, jvp
        run.inputs = list(inputs)
        run.xp = backend.namespace(*inputs)
        run.names = _input_names(f, len(inputs), names)
        # an Op knows its name; a function its __name__
        run.name = name or cast(str, getattr(f, "name", None) or getattr(f, "__name__", type(f).__name__))
        run.wrt = _resolve_wrt(run.xp, run.inputs, wrt, run.names)
        run.method, run.seed, run.rtol, run.atol = method, seed, rtol, atol
        run.checks = tuple(checks)
        size = sum(int(run.inputs[i].size) for i in run.wrt)
        run.mode = ("full" if size <= FULL_MODE_LIMIT else "projected") if mode == "auto" else mode
        run.n_probes = probes if probes is not None else (2 if run.mode == "full" else 1)
        run.evaluations = 0
        run.results = []
        return run

    # the attributes set by ``start``
    f: Callable[..., Any]
    vjp: Callable[..., Any] | None
    jvp: Callable[..., Any] | None
    inputs: list[Any]
    xp: Any
    names: list[str]
    name: str
    wrt: tuple[int, ...]
    method: str
    seed: int
    rtol: float | None
    atol: float | None
    checks: tuple[str, ...]
    mode: str
    n_probes: int
    evaluations: int
    results: list[CheckResult]

    # ---- the whole run -------------------------------------------------------------------------

    def report(self) -> GradCheckReport:
        form_problems: list[str] = []
        # domain errors of the user's function at perturbed points are expected and handled
        with np.errstate(all="ignore"):
            if self._prepare(form_problems):
                self._run_checks(form_problems)
        if "form" in self.checks and not any(r.check == "form" for r in self.results):
            status: Status = "fail" if form_problems else "pass"
            self.results.insert(
                0, CheckResult("form", status, "rules", "; ".join(form_problems), details=form_problems)
            )
        return GradCheckReport(
            name=self.name,
            results=self.results,
            input_shapes=[tuple(x.shape) if backend.is_array(x) else None for x in self.inputs],
            input_dtypes=[_dtype_name(x.dtype) if backend.is_array(x) else type(x).__name__ for x in self.inputs],
            input_names=self.names,
            wrt=self.wrt,
            mode=self.mode,
            method=self.method,
            seed=self.seed,
            evaluations=self.evaluations,
        )

    def _prepare(self, problems: list[str]) -> bool:
        """Run the forward (twice), choose the precision of the numerics. False: stop here."""
        xp = self.xp
        strict = "form" in self.checks
        first = form.call_forward(xp, self.f, self.inputs, self.names, strict)
        problems += first.problems
        if not first.usable:
            self.results.append(CheckResult("form", "fail", "forward", "; ".join(problems), details=problems))
            return False
        self.out = first.value
        if not bool(xp.all(xp.isfinite(self.out))):
            message = (
                "the forward returns NaN or Inf at these inputs: they are outside the op's domain,"
                " choose inputs where it is finite"
            )
            self.results.append(CheckResult("form", "invalid", "forward", message))
            return False
        second = form.call_forward(xp, self.f, self.inputs, self.names, strict) if strict else None
        if second is not None and second.usable and form.differs(xp, self.out, second.value) is not None:
            problems.append(
                "the forward is not deterministic: two calls with the same inputs differ"
                " (random numbers without a fixed seed?); numerical derivatives need a deterministic function"
            )
            self.results.append(CheckResult("form", "fail", "forward", "; ".join(problems), details=problems))
            return False
        self._choose_precision()
        return True

    def _choose_precision(self) -> None:
        """Difference in float64 when the function runs there, else in its own precision."""
        xp = self.xp
        self.eval_inputs = list(self.inputs)
        self.g0 = xp.reshape(self.out, (-1,))  # g(0) of every derivative, flattened like them
        low = [i for i, x in enumerate(self.inputs) if backend.is_array(x) and _is_low_float(xp, x.dtype)]
        dev = backend.device(self.out)
        if self.method == "complex" or not low or not backend.has_float64(xp, dev):
            self.eval_eps = backend.eps(xp, self.out.dtype)
            return
        widened = list(self.inputs)
        for i in low:
            widened[i] = xp.astype(self.inputs[i], xp.float64)
        try:
            wide_out = self.f(*widened)
        except Exception:  # the function only runs in its own precision: difference it there
            wide_out = None
        if (
            backend.is_array(wide_out)
            and wide_out.dtype == xp.float64
            and tuple(wide_out.shape) == tuple(self.out.shape)
            and bool(xp.all(xp.isfinite(wide_out)))
        ):
            self.eval_inputs, self.g0 = widened, xp.reshape(wide_out, (-1,))
        self.eval_eps = backend.eps(xp, self.g0.dtype)

    def _run_checks(self, problems: list[str]) -> None:
        xp, rng = self.xp, np.random.default_rng(self.seed)
        dev = backend.device(self.out)
        self.v = [
            backend.signed_probe(rng, xp, tuple(self.out.shape), self.out.dtype, dev) for _ in range(self.n_probes)
        ]
        self.u = [
            {i: backend.signed_probe(rng, xp, tuple(self.inputs[i].shape), self.inputs[i].dtype, dev) for i in self.wrt}
            for _ in range(self.n_probes)
        ]
        self.v_flat = [xp_flat(xp, as_float(xp, v, self.g0.dtype)) for v in self.v]
        self.along_cache: dict[tuple[int, int], Samples] = {}
        self.room_cache: dict[tuple[int, int], float] = {}
        wanted = set(self.checks)
        need_vjp = self.vjp is not None and bool(wanted & {"rev", "adj", "form"})
        need_jvp = self.jvp is not None and bool(wanted & {"fwd", "adj", "form"})
        cots = self.vjp_values = self._call_vjps(problems) if need_vjp else None
        tans = self._call_jvps(problems) if need_jvp else None
        if "form" in wanted:
            status: Status = "fail" if problems else "pass"
            self.results.append(CheckResult("form", status, "rules", "; ".join(problems), details=list(problems)))
        run_rev, run_fwd = "rev" in wanted and cots, "fwd" in wanted and tans
        if self.mode == "full" and (run_rev or run_fwd):
            self._full_numerics(judge=bool(cots))
        if run_rev and cots:
            for i in self.wrt:
                self.results.append(self._check_rev(i, cots))
        if run_fwd and tans:
            self.results.append(self._check_fwd(tans))
        if "adj" in wanted and cots and tans:
            self.results.append(self._check_adj(cots, tans))
        self._cross_diagnose()

    # ---- calling the rules ---------------------------------------------------------------------

    def _call_vjps(self, problems: list[str]) -> list[list[Array]] | None:
        vjp = cast(Callable[..., Any], self.vjp)  # called only when there is one
        out = []
        for k, v in enumerate(self.v):
            call = form.call_vjp(self.xp, vjp, v, self.inputs, self.out, self.wrt, self.names, self.strict)
            if k == 0:
                problems += call.problems
            if not call.usable:
                return None
            out.append(call.value)
        if not self.strict:
            return out
        again = form.call_vjp(self.xp, vjp, self.v[0], self.inputs, self.out, self.wrt, self.names)
        if again.usable:
            for i, a, b in zip(self.wrt, out[0], again.value, strict=True):
                gap = form.differs(self.xp, as_float(self.xp, a), as_float(self.xp, b))
                if gap is not None:
                    problems.append(
                        f"the VJP is not deterministic: two calls give cotangents for {self.names[i]}"
                        f" that differ by up to {gap:.3g}"
                    )
        return out

    def _call_jvps(self, problems: list[str]) -> list[Array] | None:
        jvp = cast(Callable[..., Any], self.jvp)  # called only when there is one
        out = []
        for k, u in enumerate(self.u):
            tangents = [u.get(i) for i in range(len(self.inputs))]
            call = form.call_jvp(self.xp, jvp, tangents, self.inputs, self.out, self.names, self.strict)
            if k == 0:
                problems += call.problems
            if not call.usable:
                return None
            out.append(call.value)
        if not self.strict:
            return out
        tangents = [self.u[0].get(i) for i in range(len(self.inputs))]
        again = form.call_jvp(self.xp, jvp, tangents, self.inputs, self.out, self.names)
        if again.usable:
            gap = form.differs(self.xp, as_float(self.xp, out[0]), as_float(self.xp, again.value))
            if gap is not None:
                problems.append(f"the JVP is not deterministic: two calls differ by up to {gap:.3g}")
        return out

    # ---- rev -----------------------------------------------------------------------------------

    def _check_rev(self, i: int, cots: list[list[Array]]) -> CheckResult:
        xp = self.xp
        position = self.wrt.index(i)
        tol = tolerances.resolve(self.inputs[i].dtype, self.rtol, self.atol)
        a_eps = backend.eps(xp, self.inputs[i].dtype)
        shape = tuple(self.inputs[i].shape)
        worst: tuple[float, CheckResult] | None = None
        for k in range(self.n_probes):
            analytic = xp_flat(xp, as_float(xp, cots[k][position], self.g0.dtype))
            if self.mode == "full":
                numeric = self.rev_numeric[i]
                column = Numeric(*(None if f is None else f[:, k] for f in numeric_fields(numeric)))
                compared = compare(xp, analytic, column, tol, a_eps)
                result = to_result(xp, "rev", self.names[i], compared, shape, tol, self.mode, self._sizes())
            else:
                result = self._rev_projected(i, k, analytic, tol, a_eps, shape)
            score = result.worst_ratio + (1e9 if result.status == "fail" else 0.0)
            if worst is None or score > worst[0]:
                worst = (score, result)
        assert worst is not None
        return self._explain_rev(worst[1], i)

    @property
    def strict(self) -> bool:
        """Whether the ``form`` check runs: copies, mutation and determinism checks of the rules."""
        return "form" in self.checks

    def _explain_rev(self, result: CheckResult, i: int) -> CheckResult:
        if result.status != "fail":
            return result
        hint = diagnose.broadcast_hint(self.names[i], tuple(self.inputs[i].shape), tuple(self.out.shape))
        if hint and not result.diagnosis:
            result.details.append(hint)
        return result

    # ---- fwd -----------------------------------------------------------------------------------

    def _check_fwd(self, tans: list[Array]) -> CheckResult:
        xp = self.xp
        tol = tolerances.resolve(self.out.dtype, self.rtol, self.atol)
        a_eps = backend.eps(xp, self.out.dtype)
        worst: tuple[float, CheckResult] | None = None
        for k in range(self.n_probes):
            analytic = xp_flat(xp, as_float(xp, tans[k], self.g0.dtype))
            compared = compare(xp, analytic, self._fwd_numeric(k), tol, a_eps)
            if self._quick_fwd(k) and not agrees(xp, compared):
                # the quick look disagrees: decide with the method's whole stencil
                compared = compare(xp, analytic, self._fwd_numeric(k, refined=True), tol, a_eps)
            result = to_result(xp, "fwd", "output", compared, tuple(self.out.shape), tol, self.mode, self._sizes())
            score = result.worst_ratio + (1e9 if result.status == "fail" else 0.0)
            if worst is None or score > worst[0]:
                worst = (score, result)
        assert worst is not None
        return worst[1]

    def _quick_fwd(self, k: int) -> bool:
        return self.mode == "projected" and any(self.is_quick(self.along_cache[(k, i)]) for i in self.wrt)

    # ---- adj -----------------------------------------------------------------------------------

    def _check_adj(self, cots: list[list[Array]], tans: list[Array]) -> CheckResult:
        xp = self.xp
        result = CheckResult("adj", "pass", "VJP vs JVP", mode="exact")
        worst = -1.0
        for k in range(self.n_probes):
            v = as_float(xp, self.v[k], xp.float64 if backend.has_float64(xp, backend.device(self.out)) else None)
            t = as_float(xp, tans[k], v.dtype)
            lhs_terms = v * t
            lhs = float(xp.sum(lhs_terms))
            rhs, scale = 0.0, float(xp.sum(xp.abs(lhs_terms)))
            dtypes = [self.out.dtype]
            # each rule's values may be off by their dtype's atol, as rev and fwd allow: a rule that
            # cancels internally (a float32 softmax with one saturated class) has errors of the
            # size of its terms, not of its tiny results; in a random-sign sum they add like sqrt
            absolute = tolerances.resolve(self.out.dtype, self.rtol, self.atol).atol * _norm(xp, v)
            for position, i in enumerate(self.wrt):
                u = as_float(xp, self.u[k][i], v.dtype)
                terms = as_float(xp, cots[k][position], v.dtype) * u
                rhs += float(xp.sum(terms))
                scale += float(xp.sum(xp.abs(terms)))
                dtypes.append(self.inputs[i].dtype)
                absolute += tolerances.resolve(self.inputs[i].dtype, self.rtol, self.atol).atol * _norm(xp, u)
            a_eps = max(backend.eps(xp, dt) for dt in dtypes)
            # relative to the terms, with a floor for subnormal results (whose rounding is absolute)
            tiny = max(float(xp.finfo(dt).smallest_normal) for dt in dtypes)
            limit = tolerances.ADJOINT_ULPS * a_eps * (scale + tiny) + tolerances.PROJECTION_SIGMAS * absolute + 1e-300
            gap = abs(lhs - rhs)
            if gap / limit > worst:
                worst = gap / limit
                result.max_abs_err, result.max_rel_err = gap, gap / max(abs(lhs), abs(rhs), 1e-300)
                result.worst_ratio = gap / limit
                result.message = (
                    f"<v, JVP(u)> = {lhs:.10g} but <VJP(v), u> = {rhs:.10g} (difference {gap:.3g}, limit {limit:.3g})"
                )
                result.status = "fail" if gap > limit else "pass"
        if result.status == "pass":
            result.message = ""
        return result

    def _cross_diagnose(self) -> None:
        rev = [r for r in self.results if r.check == "rev"]
        fwd = next((r for r in self.results if r.check == "fwd"), None)
        adj = next((r for r in self.results if r.check == "adj"), None)
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


# ---- helpers ---------------------------------------------------------------------------------


def _norm(xp: Any, a: Array) -> float:
    return math.sqrt(float(backend.dot(xp, xp_flat(xp, a), xp_flat(xp, a))))


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1].strip("'>")


def _is_low_float(xp: Any, dtype: Any) -> bool:
    return backend.is_floating(xp, dtype) and backend.eps(xp, dtype) > 1e-15


def _input_names(f: Callable[..., Any], n: int, names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if len(names) != n:
            raise GradlabError(f"names has {len(names)} entries for {n} inputs")
        return list(names)
    known = getattr(f, "arg_names", None)  # an Op: its forward's parameter names
    if known:
        return [known[i] if i < len(known) else f"x{i}" for i in range(n)]
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = []
    found = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [found[i] if i < len(found) else f"x{i}" for i in range(n)]


def _resolve_wrt(xp: Any, inputs: list[Any], wrt: Sequence[int] | None, names: list[str]) -> tuple[int, ...]:
    floating = [i for i, x in enumerate(inputs) if backend.is_array(x) and backend.is_floating(xp, x.dtype)]
    if wrt is None:
        if not floating:
            raise GradlabError("no input is a real floating array: there is nothing to differentiate")
        return tuple(floating)
    chosen = []
    for i in wrt:
        if not isinstance(i, int) or not -len(inputs) <= i < len(inputs):
            raise GradlabError(f"wrt={tuple(wrt)!r}: {i!r} is not an index of the {len(inputs)} inputs")
        i %= len(inputs)
        if i not in floating:
            kind = inputs[i].dtype if backend.is_array(inputs[i]) else type(inputs[i]).__name__
            raise GradlabError(
                f"input {i} ({names[i]}) is {kind}: only real floating arrays can be differentiated;"
                " leave it out of wrt"
            )
        chosen.append(i)
    if not chosen:
        raise GradlabError("wrt is empty: name at least one input to differentiate")
    return tuple(dict.fromkeys(chosen))
