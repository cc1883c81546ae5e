"""The fuzzer over the registry, and planted bugs it must catch and shrink small."""

import numpy as np
import pytest

from gradlab.fuzz.driver import fuzz_op
from gradlab.fuzz.profiles import PROFILES
from gradlab.ops import REGISTRY, defjvp, defvjp, ns, op
from gradlab.ops.registry import Op, Registry
from gradlab.ops.spec import parse_spec

CASES = [(o.name, dtype) for o in REGISTRY for dtype in (o.spec.dtypes if o.spec else ("float64",))]


@pytest.mark.parametrize("name, dtype", CASES, ids=[f"{n}-{d}" for n, d in CASES])
def test_every_registry_op_passes_the_fuzzer(name, dtype):
    outcome = fuzz_op(REGISTRY[name], dtype, max_examples=PROFILES["quick"])
    if outcome.failure:
        pytest.fail(outcome.failure.example.describe() + "\n" + outcome.failure.report.format())
    assert outcome.error is None, outcome.error
    assert outcome.status in ("pass", "xfail")
    assert outcome.examples >= PROFILES["quick"] // 2  # not everything rejected


def _fuzz(spec_table, forward, vjp_rules, jvp_rules, max_examples=200):
    private = Registry()
    made = op("planted", forward, registry=private)
    defvjp(made, *vjp_rules)
    defjvp(made, *jvp_rules)
    made.spec = parse_spec("planted", spec_table)
    return fuzz_op(made, "float64", max_examples=max_examples)


def _inverse(axes):
    return tuple(int(i) for i in np.argsort(axes))


def test_transpose_with_the_permutation_instead_of_its_inverse_is_caught_at_three_dims():
    spec = {"shape": "()->()", "inputs": [{"name": "x", "domain": "real"}], "params": {"axes": {"kind": "permutation"}}}
    outcome = _fuzz(
        spec,
        lambda x, axes=(): ns(x).permute_dims(x, axes),
        [lambda g, ans, x, axes=(): ns(g).permute_dims(g, axes)],  # BUG: should be the inverse permutation
        [lambda t, ans, x, axes=(): ns(t).permute_dims(t, axes)],
    )
    assert outcome.status == "fail"
    failure = outcome.failure
    assert failure.example.inputs[0].ndim == 3  # every permutation of 2 or fewer axes is its own inverse
    assert _inverse(failure.example.params["axes"]) != tuple(failure.example.params["axes"])
    assert failure.report.mode == "full"
    assert failure.blob and "reproduce_failure" in failure.blob


def _left_aligned_unbroadcast(g, shape):
    xp = ns(g)
    while g.ndim > len(shape):
        g = xp.sum(g, axis=0)
    for i, size in enumerate(shape):
        if size == 1 and g.shape[i] != 1:
            g = xp.sum(g, axis=0, keepdims=True)  # BUG: sums the leading axis, not axis i
    return g


def test_a_bias_rule_that_sums_the_wrong_axis_is_caught_only_with_a_non_leading_size_one_dim():
    spec = {"shape": "(),()->()", "inputs": [{"name": "x", "domain": "real"}, {"name": "b", "domain": "real"}]}
    outcome = _fuzz(
        spec,
        lambda x, b: x + b,
        [lambda g, ans, x, b: g, lambda g, ans, x, b: _left_aligned_unbroadcast(g, b.shape)],
        [lambda t, ans, x, b: t, lambda t, ans, x, b: t],
    )
    assert outcome.status == "fail"
    x, b = outcome.failure.example.inputs
    out_shape = np.broadcast_shapes(x.shape, b.shape)
    lead = len(out_shape) - b.ndim
    stretched = [j for j, size in enumerate(b.shape) if size == 1 and out_shape[lead + j] != 1]
    assert stretched and max(stretched) > 0  # a size-1 dim of b, not its first, is broadcast
    assert b.size <= 4 and x.size <= 4  # and the example is small


def _softmax(z, axis=-1):
    xp = ns(z)
    e = xp.exp(z - xp.max(z, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def test_softmax_vjp_missing_its_subtraction_term_is_caught():
    spec = {"shape": "(n)->(n)", "inputs": [{"name": "z", "domain": "real"}], "min_side": 1}
    outcome = _fuzz(
        spec,
        _softmax,
        [lambda g, ans, z: ans * g],  # BUG: ans * (g - sum(g * ans))
        [lambda t, ans, z: ans * (t - ns(t).sum(t * ans, axis=-1, keepdims=True))],
    )
    assert outcome.status == "fail"
    rev = outcome.failure.report.result("rev")
    assert rev.status == "fail"
    assert outcome.failure.example.inputs[0].shape == (1,)  # a softmax of one element has derivative 0


def test_matmul_jvp_missing_one_product_term_is_caught_by_fwd_and_adj_not_rev():
    spec = {
        "shape": "(n,k),(k,m)->(n,m)",
        "batch": False,
        "inputs": [{"name": "a", "domain": "real"}, {"name": "b", "domain": "real"}],
    }
    outcome = _fuzz(
        spec,
        lambda a, b: a @ b,
        [lambda g, ans, a, b: g @ b.T, lambda g, ans, a, b: a.T @ g],
        [lambda t, ans, a, b: t @ b, None],  # BUG: the a @ t_b term is missing
    )
    assert outcome.status == "fail"
    report = outcome.failure.report
    assert report.result("fwd").status == "fail"
    assert report.result("adj").status == "fail"
    assert all(r.status == "pass" for r in report.results if r.check == "rev")
    assert all(s == 1 for s in outcome.failure.example.inputs[0].shape)  # shrunk to 1x1 operands


def test_one_broken_op_does_not_stop_the_others():
    from gradlab.fuzz.driver import fuzz_ops

    private = Registry()
    broken = op("broken", lambda x: ns(x).exp(x), registry=private)
    defvjp(broken, lambda g, ans, x: g)
    defjvp(broken, lambda t, ans, x: t * ans)
    broken.spec = parse_spec("broken", {"shape": "()->()", "inputs": [{"name": "x", "domain": "real"}]})
    no_spec = op("nospec", lambda x: x, registry=private)
    defvjp(no_spec, lambda g, ans, x: g)
    outcomes = fuzz_ops([broken, no_spec, REGISTRY["exp"]], dtypes=("float64",), max_examples=20)
    assert [o.status for o in outcomes] == ["fail", "error", "pass"]
    assert "has no spec" in outcomes[1].error


def _grows_wrong() -> Op:
    """An op whose VJP is wrong only for three elements or more: the fuzzer finds it after a few examples."""
    private = Registry()
    made = op("grows_wrong", lambda x: x**3, registry=private)
    defvjp(made, lambda g, ans, x: 3 * g * x**2 * (2 if x.size >= 3 else 1))
    defjvp(made, lambda t, ans, x: 3 * t * x**2)
    made.spec = parse_spec("grows_wrong", {"shape": "(n)->(n)", "inputs": [{"name": "x", "domain": "real"}]})
    return made


def test_an_example_database_replays_the_shrunk_failure_first_and_changes_nothing_while_empty():
    from hypothesis.database import InMemoryExampleDatabase

    made = _grows_wrong()
    database = InMemoryExampleDatabase()
    alone = fuzz_op(made, "float64")
    first = fuzz_op(made, "float64", database=database, database_key="tests::grows_wrong")
    again = fuzz_op(made, "float64", database=database, database_key="tests::grows_wrong")
    other = fuzz_op(made, "float64", database=database, database_key="tests::another")
    shrunk = [o.failure.example.inputs[0].tolist() for o in (alone, first, again, other)]
    assert shrunk == [[0.0, 0.0, 1.0]] * 4
    assert alone.examples == first.examples == other.examples > 1  # an empty shelf draws what no database draws
    assert again.examples == 1  # the saved failure ran first
    assert database.data  # saved under the shelf's keys
    right = op("cube", lambda x: x**3, registry=Registry(), spec=made.spec)
    defvjp(right, lambda g, ans, x: 3 * g * x**2)
    without, empty = (
        fuzz_op(right, "float64", max_examples=20, database=db) for db in (None, InMemoryExampleDatabase())
    )
    assert (without.status, without.examples, without.largest, without.worst_rel_err) == (
        empty.status, empty.examples, empty.largest, empty.worst_rel_err,
    )  # fmt: skip
