"""JAX: a ``jax.custom_vjp`` (its ``bwd``), a ``jax.custom_jvp`` (its rule, and JAX's transpose of
it), or any function of JAX arrays, checked through JAX's own ``jax.vjp`` and ``jax.jvp``.

JAX arrays are viewed as NumPy arrays (CPU) or CuPy arrays (GPU, through DLPack), and gradlab's
arrays become JAX arrays again for every call: JAX arrays are immutable, so no rule can write into
what the ``form`` check watches. Complex cotangents follow JAX's convention (``"jax"``).

JAX computes in float32 unless 64-bit mode is on. A call that has a float64 (or complex128) value
among its arguments runs with ``jax.enable_x64`` on for its duration, so gradlab's float64
numerics (and the float64 reruns of a float32 rule) really run in float64; a float32 call runs as
the user's own configuration says, so a float32 input stays float32.

JAX itself checks what a ``custom_vjp``'s ``bwd`` returns against the primal's arguments (their
number, structure and shapes) and raises: such a rule is reported as "the VJP raised ..." with
JAX's message. A cotangent of the wrong dtype passes JAX and reaches the ``form`` check.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from gradlab.bridges.trees import (
    bridged_run,
    leaves,
    map_leaves,
    parameter_names,
    required_names,
)
from gradlab.check import pytree
from gradlab.check.bridges import Bridged
from gradlab.errors import GradlabError

_CUSTOM = ("custom_vjp", "custom_jvp")
_WIDE = ("float64", "complex128")


def custom(f: Any) -> Any:
    """The ``jax.custom_vjp`` / ``jax.custom_jvp`` object ``f`` is (or wraps, as ``jax.jit``
    does), or None."""
    for _ in range(8):
        kind = type(f)
        if kind.__module__.startswith("jax") and kind.__name__ in _CUSTOM:
            return f
        f = getattr(f, "__wrapped__", None)
        if f is None:
            return None
    return None


def defines_rule(c: Any) -> bool:
    """Whether the custom function ``c`` has its rule (``defvjp`` / ``defjvp`` was called)."""
    return (c.bwd if type(c).__name__ == "custom_vjp" else c.jvp) is not None


@contextlib.contextmanager
def precision(*values: Any) -> Iterator[None]:
    """64-bit mode on while a call has a 64-bit leaf among ``values`` (JAX would compute it in
    float32 otherwise); a float32 call runs under the user's own setting."""
    wide = any(str(getattr(v, "dtype", "")) in _WIDE for x in values for v in leaves(x))
    if not wide:
        yield
        return
    import jax

    enable = getattr(jax, "enable_x64", None)  # a config State (no truth value) in new JAX
    if enable is None:
        enable = importlib.import_module("jax.experimental").enable_x64  # older JAX
    with enable(True):
        yield


def to_array(x: Any) -> Any:
    """A JAX array as an array of gradlab's namespaces, without a copy where DLPack allows (a
    bfloat16 one, which NumPy cannot hold, as a float32 copy of its values)."""
    if x.dtype.name == "bfloat16":
        x = x.astype("float32")
    platform = next(iter(x.devices())).platform
    if platform == "cpu":
        return np.asarray(x)
    if platform in ("gpu", "cuda", "rocm"):
        try:
            import cupy
        except ImportError:
            raise GradlabError(
                "a JAX array on the GPU: gradlab checks it there with CuPy, which is not installed"
                " (pip install 'gradlab-check[cupy]'), or move it to the CPU (jax.device_get(x))"
            ) from None
        return cupy.from_dlpack(x)
    raise GradlabError(f"a JAX array on {platform}: gradlab checks JAX arrays on the CPU and on GPUs (with CuPy)")


def to_jax(a: Any, low: bool = False) -> Any:
    """An array of gradlab's as a JAX array (NumPy's copied onto JAX's default device, CuPy's
    through DLPack); ``low``: it holds a bfloat16 array's values, made bfloat16 again unless gradlab
    widened it to float64 (the numerics run the forward there)."""
    import jax.numpy as jnp

    if isinstance(a, np.ndarray | np.generic):
        return jnp.asarray(a).astype(jnp.bfloat16) if low and a.dtype == np.float32 else jnp.asarray(a)
    if _is_jax(a):
        return a
    return jnp.from_dlpack(a)


def _out(values: Any) -> Callable[[Any], Any]:
    """How a call's results leave it: as gradlab's arrays, or as JAX values when the call was given
    JAX values (``order=2``: JAX differentiates the rule again, :mod:`gradlab.bridges.jax_order2`)."""
    return (lambda t: t) if any(_is_jax(v) for v in leaves(values)) else to_array


def _is_jax(x: Any) -> bool:
    jax = sys.modules["jax"]
    return isinstance(x, jax.Array)


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray | np.generic) or hasattr(x, "__dlpack__")


def _floating(x: Any) -> bool:
    return str(x.dtype).startswith(("float", "complex", "bfloat"))


def _library(c: Any) -> bool:
    """Whether the custom function is JAX's own (``jax.nn.relu``), imported into a user's module."""
    return str(getattr(c.fun, "__module__", "")).split(".")[0] in ("jax", "jaxlib")


class JaxBridge:
    """Finds JAX's custom functions and arrays, and checks them through JAX's autodiff."""

    name = "jax"

    def owns(self, f: Callable[..., Any], values: Sequence[Any]) -> bool:
        return custom(f) is not None or any(_is_jax(x) for x in values)

    def bridge(
        self, f: Callable[..., Any], inputs: Sequence[Any], wrt: Sequence[int] | None, kwargs: Mapping[str, Any]
    ) -> Bridged:
        return bridged_run(_Run, f, inputs, wrt, kwargs, _is_jax, to_array)

    def rule(self, value: Any) -> Bridged | None:
        """A module's ``custom_vjp`` / ``custom_jvp`` function with its rule defined (not one of
        JAX's own), its inputs named by its primal function's required positional parameters.

        Those among ``nondiff_argnums`` are not drawn (an integer power, a static shape, a
        callable: gradlab cannot know their values); a function that requires one is returned
        with a forward and rules that raise a :class:`GradlabError` saying to check it with
        ``check_grads(f, x, n)`` at chosen values."""
        c = custom(value)
        if c is None or not defines_rule(c) or _library(c):
            return None
        if c is not value and type(value).__name__ != "PjitFunction":  # jax.grad(f) wraps f too: not f
            return None
        params = required_names(c.fun)
        if params is None:
            return None
        static = set(c.nondiff_argnums)  # positions among all positional parameters: the required come first
        names = [p for k, p in enumerate(params) if k not in static]
        needed = [p for k, p in enumerate(params) if k in static]
        run = _Run(value, [True] * len(names))
        bridged = run.bridged((), {}, names)
        if needed:
            name = bridged.name
            message = (
                f"{name} takes {', '.join(needed)} as nondiff_argnums, values gradlab cannot draw:"
                f" check it at values you choose, check_grads({name}, {', '.join(params)})"
            )

            def refuse(*args: Any, **kwargs: Any) -> Any:
                raise GradlabError(message)

            bridged.forward = refuse
            bridged.vjp = refuse if bridged.vjp else None
            bridged.jvp = refuse if bridged.jvp else None
            bridged.notes.append(message)
        return bridged


BRIDGE = JaxBridge()


class _Run:
    """One function of JAX arrays and its rules, on gradlab's arrays."""

    def __init__(self, f: Callable[..., Any], wrt: list[bool]) -> None:
        self.f = f
        self.custom = custom(f)
        self.wrt = wrt  # per input: whether its floating leaves are differentiated
        self.low: set[int] = set()  # the leaves (in order, over all inputs) given as bfloat16 arrays

    def bridged(self, inputs: tuple[Any, ...], kwargs: Mapping[str, Any], names: list[str] | None = None) -> Bridged:
        """The forward and rules; ``inputs`` (gradlab's arrays) to try forward mode on, when the
        function is not one custom function whose kind says whether it has one."""
        c, notes = self.custom, []
        name = None
        has_vjp = has_jvp = True
        if c is not None:
            name = getattr(c.fun, "__name__", None)
            names = names or parameter_names(c.fun, 0, len(inputs))
            kind = type(c).__name__
            if not defines_rule(c):
                notes.append(f"the checks of its rules: {name} is a jax.{kind} whose rule is not defined yet")
                has_vjp = has_jvp = False
            elif kind == "custom_vjp":
                notes.append(f"the fwd and adj checks: {name} is a jax.custom_vjp, which JAX gives no forward mode")
                has_jvp = False
        elif inputs:
            has_jvp = self._forward_mode_works(inputs, kwargs, notes)
        return Bridged(
            self.forward, self.vjp if has_vjp else None, self.jvp if has_jvp else None, inputs, name, names,
            "jax", notes,
        )  # fmt: skip

    # ---- the calls ------------------------------------------------------------------------------

    def _split(self, xs: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Callable[..., Any], list[Any]]:
        """``f`` as a function of the differentiated leaves alone (the other arguments closed
        over, non-array ones as they are), and those leaves as JAX arrays."""
        trees: list[tuple[list[Any], pytree.Tree]] = []
        places: list[tuple[int, int]] = []
        primals: list[Any] = []
        count = itertools.count()
        for i, (x, diff) in enumerate(zip(xs, self.wrt, strict=True)):
            x_leaves, tree, _ = pytree.flatten(x)
            x_leaves = [self._jax(v, next(count)) for v in x_leaves]
            for j, v in enumerate(x_leaves):
                if diff and _is_jax(v) and _floating(v):
                    places.append((i, j))
                    primals.append(v)
            trees.append((x_leaves, tree))

        def of_leaves(*diffs: Any) -> Any:
            filled = [list(x_leaves) for x_leaves, _ in trees]
            for (i, j), v in zip(places, diffs, strict=True):
                filled[i][j] = v
            args = [pytree.unflatten(tree, lv) for lv, (_, tree) in zip(filled, trees, strict=True)]
            return self.f(*args, **kwargs)

        return of_leaves, primals

    def _cotangents(self, xs: Sequence[Any], found: Sequence[Any], out: Callable[[Any], Any]) -> tuple[Any, ...]:
        """One cotangent per input, its differentiated leaves from ``found`` in order."""
        it = iter(found)

        def cotangent(x: Any, diff: bool) -> Any:
            return map_leaves(lambda v: out(next(it)) if diff and _is_array(v) and _floating(v) else None, x)

        return tuple(cotangent(x, d) for x, d in zip(xs, self.wrt, strict=True))

    def _jax(self, v: Any, k: int) -> Any:
        """Leaf ``k`` (over all inputs, in order) as the function takes it."""
        return to_jax(v, k in self.low) if _is_array(v) else v

    def forward(self, *xs: Any, **kwargs: Any) -> Any:
        count = itertools.count()
        with precision(xs):
            result = self.f(*map_leaves(lambda v: self._jax(v, next(count)), xs), **kwargs)
        out = _out(xs)
        return map_leaves(lambda t: out(t) if _is_jax(t) else t, result)

    def vjp(self, g: Any, out: Any, *xs: Any, **kwargs: Any) -> tuple[Any, ...]:
        import jax

        with precision(xs, g):
            of_leaves, primals = self._split(xs, kwargs)
            result, pullback = jax.vjp(of_leaves, *primals)
            _, tree, _ = pytree.flatten(result)
            heads = pytree.flatten_like(g, tree, "out", "the cotangent")
            cotangent = pytree.unflatten(tree, [_like(c, o) for c, o in zip(heads, leaves(result), strict=True)])
            found = pullback(cotangent)
        return self._cotangents(xs, found, _out((g, xs)))

    def jvp(self, tangents: Sequence[Any], out: Any, *xs: Any, **kwargs: Any) -> Any:
        import jax

        with precision(xs, tangents):
            of_leaves, primals = self._split(xs, kwargs)
            chosen: list[Any] = []
            for x, t, diff in zip(xs, tangents, self.wrt, strict=True):
                x_leaves, tree, _ = pytree.flatten(x)
                t_leaves = pytree.flatten_like(t, tree, "x", "the tangent")
                chosen += [t for v, t in zip(x_leaves, t_leaves, strict=True) if diff and _is_array(v) and _floating(v)]
            dots = [_like(t, p) for t, p in zip(chosen, primals, strict=True)]
            result, tangent = jax.jvp(of_leaves, tuple(primals), tuple(dots))
        _, tree, _ = pytree.flatten(result)
        to_out = _out((tangents, xs))
        return pytree.unflatten(
            tree,
            [
                to_out(t) if _floating(o) else np.zeros(o.shape)
                for t, o in zip(leaves(tangent), leaves(result), strict=True)
            ],
        )

    def _forward_mode_works(self, inputs: tuple[Any, ...], kwargs: Mapping[str, Any], notes: list[str]) -> bool:
        """Whether JAX's forward mode runs through the function (a ``custom_vjp`` inside it has
        none): one call at the inputs, with unit tangents."""
        tangents = [map_leaves(lambda v: np.ones_like(v) if isinstance(v, np.ndarray) else None, x) for x in inputs]
        try:
            self.jvp(tangents, None, *inputs, **kwargs)
        except TypeError as exc:
            if "custom_vjp" in str(exc):
                notes.append(f"the fwd and adj checks: JAX's forward mode fails here ({str(exc).splitlines()[0]})")
                return False
        except Exception:  # anything else is the forward's own problem: the checks report it
            return True
        return True


def _like(value: Any, primal: Any) -> Any:
    """A cotangent or tangent for ``primal``, of its dtype (zeros of JAX's ``float0`` for an
    integer one; zeros where ``value`` is None)."""
    import jax
    import jax.numpy as jnp

    if not _floating(primal):
        return np.zeros(np.shape(primal), dtype=jax.dtypes.float0)
    if value is None:
        return jnp.zeros(np.shape(primal), dtype=primal.dtype)
    return to_jax(value).astype(primal.dtype)
