"""Specs: what inputs an op accepts, as data (``specs/*.toml`` or inline on a user's op).

One TOML table per op::

    [softmax_cross_entropy]
    shape = "(n,c),(n)->()"          # a gufunc signature; batch dims broadcast unless batch = false
    batch = false                    # no batch dims at all (default true)
    inputs = [
      { name = "logits", domain = "real" },
      { name = "labels", domain = "labels", classes = "c", diff = false },
    ]
    params = { axis = { kind = "axis" } }
    dtypes = ["float64", "float32"]
    tolerance = { float32 = { rtol = 1e-3, atol = 1e-5 } }
    kinks = [0.0]                    # elementwise points where the op is not differentiable
    checks = ["rev", "fwd", "adj", "form"]
    xfail = "reason"                 # an expected failure
    domain_by_forward = true         # examples the forward raises on are skipped (inferred specs)
    broadcast_ones = false           # batch dims broadcast only by missing leading dims, not size 1

Every field is validated on load; an error names the file, the op and the field.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradlab.check.tolerances import Tolerance, default_tolerance
from gradlab.errors import GradlabError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# the built-in specs: inside the package when installed from a wheel or an sdist (setup.py copies
# them there), the repository's top-level specs/ in a checkout or an editable install
_PACKAGED = Path(__file__).resolve().parents[1] / "specs"
SPEC_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "specs"

DOMAINS = {
    "real": (-3.0, 3.0),
    "positive": (0.1, 3.0),
    "unit": (0.05, 0.95),
    "nonzero": (0.2, 3.0),  # magnitude; the sign is drawn
    "distinct": (-3.0, 3.0),  # no two values closer than a margin (no ties for max/min/sort)
    "spd": (-1.0, 1.0),  # symmetric positive definite: M M^T + n I from entries of M
    "well_conditioned": (-0.5, 0.5),  # square, diagonally dominant: M + n I (condition number <= 3)
    "labels": (0, 0),  # integers in [0, k), k the size of dimension `classes` of the signature
    "mask": (0.0, 1.0),  # a 0/1 keep-mask in the input's float dtype
}
PARAM_KINDS = {"axis", "axis_pair", "bool", "float", "int", "choice", "permutation", "reshape", "broadcast",
               "expand_axis", "squeeze_axis", "index", "pad_width"}  # fmt: skip
SHAPE_RULES = {"concatenate"}
CHECK_NAMES = ("rev", "fwd", "adj", "form")
DTYPES = ("float64", "float32")
_SIGNATURE = re.compile(r"^\s*(\([\w?,\s]*\)\s*,?\s*)*->\s*\([\w?,\s]*\)\s*$")


class SpecError(GradlabError):
    """A spec that cannot be used: the message names the file, the op and the field."""


@dataclass(frozen=True)
class InputSpec:
    name: str
    domain: str
    diff: bool = True
    batch: bool = True
    low: float | None = None
    high: float | None = None
    classes: str | None = None

    @property
    def bounds(self) -> tuple[float, float]:
        low, high = DOMAINS[self.domain]
        return (low if self.low is None else self.low, high if self.high is None else self.high)


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    op: str
    shape: str
    inputs: tuple[InputSpec, ...]
    params: tuple[ParamSpec, ...] = ()
    dtypes: tuple[str, ...] = DTYPES
    tolerance: Mapping[str, Tolerance] = field(default_factory=dict)
    kinks: tuple[float, ...] = ()
    checks: tuple[str, ...] = CHECK_NAMES
    xfail: str | None = None
    batch: bool = True
    broadcast: bool = True
    max_dims: int = 3
    min_side: int = 1
    max_side: int = 4
    # examples on which the forward raises are outside the op's domain: skipped, not failed (an
    # inferred spec knows the shapes only up to what the forward checks, e.g. a stride that divides)
    domain_by_forward: bool = False
    # broadcast batch dims include size-1 ones (NumPy's rule); false: only missing leading ones (needle's)
    broadcast_ones: bool = True
    source: str = "<inline>"

    @property
    def wrt(self) -> tuple[int, ...]:
        return tuple(i for i, x in enumerate(self.inputs) if x.diff)

    @property
    def signature(self) -> str | None:
        return self.shape if "->" in self.shape else None


@functools.cache
def builtin_specs() -> dict[str, Spec]:
    """The specs of the built-in ops, from ``specs/*.toml`` (read once)."""
    return load_specs()


def load_specs(paths: Iterable[Path] | None = None) -> dict[str, Spec]:
    """Load and validate every op table of the given TOML files (default: ``specs/*.toml``)."""
    files = sorted(SPEC_DIR.glob("*.toml")) if paths is None else [Path(p) for p in paths]
    specs: dict[str, Spec] = {}
    for path in files:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SpecError(f"{path}: cannot read the spec file: {exc}") from exc
        for name, table in data.items():
            if name in specs:
                raise SpecError(f"{path}: op {name!r}: already specified in {specs[name].source}")
            specs[name] = parse_spec(name, table, str(path))
    return specs


def parse_spec(op: str, table: Any, source: str = "<inline>") -> Spec:
    """Validate one op's table (a mapping from TOML or an inline dict) into a :class:`Spec`."""

    def fail(where: str, what: str) -> SpecError:
        return SpecError(f"{source}: op {op!r}: field {where!r}: {what}")

    if not isinstance(table, Mapping):
        raise fail("", f"expected a table of fields, got {type(table).__name__}")
    known = {"shape", "inputs", "params", "dtypes", "tolerance", "kinks", "checks", "xfail", "batch", "broadcast",
             "max_dims", "min_side", "max_side", "doc", "domain_by_forward", "broadcast_ones"}  # fmt: skip
    for key in table:
        if key not in known:
            raise fail(key, f"unknown field; the fields are {', '.join(sorted(known))}")
    shape = table.get("shape")
    if isinstance(shape, str):
        shape = "".join(shape.split())  # "(n, d)" and "(n,d)" alike
    if not isinstance(shape, str) or not (_SIGNATURE.match(shape) or shape in SHAPE_RULES):
        raise fail(
            "shape",
            f"{shape!r} is neither a gufunc signature like '(n,k),(k,m)->(n,m)' nor one of {sorted(SHAPE_RULES)}",
        )
    raw_inputs = table.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise fail("inputs", 'give a non-empty list of inputs, e.g. [{ name = "x", domain = "real" }]')
    inputs = tuple(_parse_input(i, raw, fail) for i, raw in enumerate(raw_inputs))
    signature_inputs = shape.split("->")[0].count("(") if "->" in shape else None
    if signature_inputs is not None and signature_inputs != len(inputs):
        raise fail("inputs", f"{len(inputs)} inputs but the signature {shape!r} has {signature_inputs}")
    if not any(x.diff for x in inputs):
        raise fail("inputs", "no input is differentiated (every one has diff = false)")
    for x in inputs:
        if x.domain == "labels" and (x.classes is None or signature_inputs is None or x.classes not in shape):
            raise fail(
                f"inputs.{x.name}.classes", "a labels input names the signature dimension that counts the classes"
            )
    params = _parse_params(table.get("params", {}), fail)
    dtypes = tuple(table.get("dtypes", DTYPES))
    bad = [d for d in dtypes if d not in DTYPES]
    if bad or not dtypes:
        raise fail("dtypes", f"{bad or dtypes} not among {list(DTYPES)}")
    tolerance = {}
    for dtype, tol in table.get("tolerance", {}).items():
        if dtype not in DTYPES or not isinstance(tol, Mapping) or set(tol) - {"rtol", "atol"}:
            raise fail(f"tolerance.{dtype}", "expected tolerance.<float64|float32> = { rtol = ..., atol = ... }")
        base = {"rtol": None, "atol": None} | dict(tol)
        default = default_tolerance(dtype)
        tolerance[dtype] = Tolerance(
            rtol=float(base["rtol"] if base["rtol"] is not None else default.rtol),
            atol=float(base["atol"] if base["atol"] is not None else default.atol),
        )
    kinks = table.get("kinks", [])
    if not isinstance(kinks, list) or not all(isinstance(k, (int, float)) for k in kinks):
        raise fail("kinks", "expected a list of numbers")
    checks = tuple(table.get("checks", CHECK_NAMES))
    if not checks or set(checks) - set(CHECK_NAMES):
        raise fail("checks", f"{list(checks)} must be a non-empty subset of {list(CHECK_NAMES)}")
    xfail = table.get("xfail")
    if xfail is not None and not (isinstance(xfail, str) and xfail.strip()):
        raise fail("xfail", "give the reason the op is expected to fail, as a string")
    ints = {}
    for key, default, lowest in (("max_dims", 3, 0), ("min_side", 1, 0), ("max_side", 4, 1)):
        value = table.get(key, default)
        if not isinstance(value, int) or value < lowest:
            raise fail(key, f"expected an integer >= {lowest}")
        ints[key] = value
    for key in ("batch", "broadcast", "domain_by_forward", "broadcast_ones"):
        if not isinstance(table.get(key, key != "domain_by_forward"), bool):
            raise fail(key, "expected true or false")
    return Spec(
        op=op, shape=shape, inputs=inputs, params=params, dtypes=dtypes, tolerance=tolerance,
        kinks=tuple(float(k) for k in kinks), checks=checks, xfail=xfail, batch=table.get("batch", True),
        broadcast=table.get("broadcast", True), domain_by_forward=table.get("domain_by_forward", False),
        broadcast_ones=table.get("broadcast_ones", True),
        source=source, **ints,
    )  # fmt: skip


def _parse_input(i: int, raw: Any, fail: Any) -> InputSpec:
    where = f"inputs[{i}]"
    if not isinstance(raw, Mapping):
        raise fail(where, 'expected a table like { name = "x", domain = "real" }')
    allowed = {"name", "domain", "diff", "batch", "low", "high", "classes"}
    unknown = set(raw) - allowed
    if unknown:
        raise fail(f"{where}.{sorted(unknown)[0]}", f"unknown field; an input has {', '.join(sorted(allowed))}")
    name, domain = raw.get("name"), raw.get("domain")
    # an identifier, or one array of a tuple value (needle's Stack takes args[0], args[1], ...)
    if not isinstance(name, str) or not re.fullmatch(r"[^\W\d]\w*(\[\d+\])?", name):
        raise fail(f"{where}.name", f"{name!r} is not a valid input name (x, or x[0] for an array of a tuple)")
    if domain not in DOMAINS:
        raise fail(f"{where}.domain", f"unknown domain {domain!r}; choose one of {', '.join(DOMAINS)}")
    for key in ("diff", "batch"):
        if not isinstance(raw.get(key, True), bool):
            raise fail(f"{where}.{key}", "expected true or false")
    for key in ("low", "high"):
        if key in raw and not isinstance(raw[key], (int, float)):
            raise fail(f"{where}.{key}", "expected a number")
    result = InputSpec(
        name=name, domain=domain, diff=raw.get("diff", domain not in ("labels", "mask")), batch=raw.get("batch", True),
        low=raw.get("low"), high=raw.get("high"), classes=raw.get("classes"),
    )  # fmt: skip
    low, high = result.bounds
    if domain not in ("labels", "mask") and not low < high:
        raise fail(f"{where}.low", f"the bounds [{low}, {high}] are empty")
    if result.diff and domain in ("labels", "mask"):
        raise fail(f"{where}.diff", f"a {domain} input cannot be differentiated")
    return result


def _parse_params(raw: Any, fail: Any) -> tuple[ParamSpec, ...]:
    if not isinstance(raw, Mapping):
        raise fail("params", 'expected a table of parameters, e.g. { axis = { kind = "axis" } }')
    params = []
    for name, options in raw.items():
        if not isinstance(options, Mapping) or options.get("kind") not in PARAM_KINDS:
            raise fail(f"params.{name}.kind", f"expected kind = one of {', '.join(sorted(PARAM_KINDS))}")
        kind = options["kind"]
        rest = {k: v for k, v in options.items() if k != "kind"}
        if kind in ("float", "int") and not ("low" in rest and "high" in rest and rest["low"] <= rest["high"]):
            raise fail(f"params.{name}", f"a {kind} parameter needs low <= high")
        if kind == "choice" and not (isinstance(rest.get("values"), list) and rest["values"]):
            raise fail(f"params.{name}.values", "a choice parameter needs a non-empty list of values")
        params.append(ParamSpec(name=name, kind=kind, options=rest))
    return tuple(params)
