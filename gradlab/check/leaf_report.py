"""The report in the user's terms: the checks ran on the canonical problem
(:mod:`gradlab.check.structured`); its results are told with the user's leaves and values.

* an input leaf is named by its path (``params['W']``), which the checks already used;
* a complex input is described by its own shape and dtype, and its wrong entries are complex
  values ``a+bj`` at the leaf's own index (not a real pair's);
* an entry of a joined output is placed at its leaf and index (``out[1][2, 0]``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gradlab.check.form import dtype_name
from gradlab.check.results import CheckResult, GradCheckReport, Mismatch
from gradlab.check.structured import Structured


def relabel(report: GradCheckReport, problem: Structured) -> GradCheckReport:
    """``report`` told in the terms of ``problem``'s user (changed in place and returned)."""
    paired = {}
    for i, leaf in enumerate(problem.leaves):
        if leaf.kind in ("complex", "holomorphic"):
            report.input_shapes[i] = tuple(leaf.value.shape)
            report.input_dtypes[i] = dtype_name(leaf.value.dtype)
            if leaf.kind == "complex":
                paired[leaf.path] = leaf
    for r in report.results:
        if r.check == "rev" and r.status == "fail" and r.diagnosis is None:
            r.diagnosis = _one_triangle(r, problem)
        if r.check == "rev" and r.subject in paired:
            _merge_pairs(r)
        elif r.check == "fwd" and not problem.single:
            if len(problem.out_leaves) == 1 and problem.out_leaves[0].kind == "complex":
                _merge_pairs(r)
            else:
                _place_outputs(r, problem)
    return report


def _one_triangle(r: CheckResult, problem: Structured) -> str | None:
    """A symmetric rule for a forward that reads one triangle of a square matrix (``cholesky``,
    ``eigh``): right on symmetric inputs, which the check does not know about."""
    a, n = r.analytic, r.numeric
    leaf = next((leaf for leaf in problem.leaves if leaf.path == r.subject), None)
    if a is None or n is None or a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2 or leaf is None:
        return None
    if leaf.space is not None or np.iscomplexobj(a):
        return None
    scale = float(np.max(np.abs(a)))
    symmetric = float(np.max(np.abs(a - a.T))) <= 1e-6 * scale
    one_triangle = not np.any(np.triu(n, 1)) or not np.any(np.tril(n, -1))
    if not (symmetric and one_triangle and np.any(n)):
        return None
    return (
        f"the forward reads one triangle of {leaf.path} (its numerical derivative is zero across the diagonal)"
        f" and the rule is symmetric: it is right for symmetric {leaf.path}; check it on that space with"
        f" spaces={{{leaf.path!r}: 'symmetric'}}"
    )


def _merge_pairs(r: CheckResult) -> None:
    """A result over a real pair ``(..., 2)`` as one over the complex values."""
    analytic, numeric = r.analytic, r.numeric
    merged: dict[tuple[int, ...], Mismatch] = {}
    for m in r.mismatches:
        index = tuple(m.index[:-1])
        if index in merged:
            continue
        if analytic is not None and numeric is not None:
            real, imag = (*index, 0), (*index, 1)  # (named: a subscript a[*i, 0] needs Python 3.11)
            a = complex(analytic[real], analytic[imag])
            n = complex(numeric[real], numeric[imag])
            merged[index] = Mismatch(index, a, n, abs(a - n), m.tolerance)
        else:  # one part known: say which
            part = ".real" if m.index[-1] == 0 else ".imag"
            merged[index] = replace(m, index=index, where=f"{_text(index)}{part}")
    if r.mismatch_count <= len(r.mismatches):  # every wrong part listed: count the values
        r.mismatch_count = len(merged)
        if r.status == "fail":
            r.message = f"{len(merged)} of {r.size // 2} complex values differ beyond the tolerance"
    r.mismatches = list(merged.values())
    if r.worst_index is not None:
        r.worst_index = tuple(r.worst_index[:-1])
    r.nondiff_indices = list(dict.fromkeys(tuple(i[:-1]) for i in r.nondiff_indices))
    r.undecided_indices = list(dict.fromkeys(tuple(i[:-1]) for i in r.undecided_indices))
    if analytic is not None and numeric is not None:
        r.analytic, r.numeric = _complex(analytic), _complex(numeric)


def _complex(a: np.ndarray) -> np.ndarray:
    return a[..., 0] + 1j * a[..., 1]


def _place_outputs(r: CheckResult, problem: Structured) -> None:
    """Entries of the joined output placed at their leaf (complex leaves' parts merged)."""
    placed: dict[tuple[str, tuple[int, ...]], Mismatch] = {}
    numeric, analytic = r.numeric, r.analytic
    for m in r.mismatches:
        path, index, part = problem.output_place(m.index[0])
        if (path, index) in placed:
            continue
        if part is not None and analytic is not None and numeric is not None:
            start = m.index[0] - part
            a = complex(analytic[start], analytic[start + 1])
            n = complex(numeric[start], numeric[start + 1])
            placed[(path, index)] = Mismatch(index, a, n, abs(a - n), m.tolerance, where=f"{path}{_text(index)}")
        else:
            suffix = "" if part is None else (".real" if part == 0 else ".imag")
            placed[(path, index)] = replace(m, index=index, where=f"{path}{_text(index)}{suffix}")
    if r.mismatch_count <= len(r.mismatches):
        r.mismatch_count = len(placed)
    r.mismatches = list(placed.values())
    if r.worst_index is not None:
        path, index, _ = problem.output_place(r.worst_index[0])
        r.worst_index = index
        r.details.append(f"the worst entry is {path}{_text(index)}")
    for attr in ("nondiff_indices", "undecided_indices"):
        places = [problem.output_place(i[0]) for i in getattr(r, attr)]
        setattr(r, attr, list(dict.fromkeys(index for _, index, _ in places)))
        if places:
            r.details.append(
                f"{'non-differentiable' if attr == 'nondiff_indices' else 'undecided'} entries are in "
                + ", ".join(dict.fromkeys(path for path, _, _ in places))
            )
    r.analytic = r.numeric = None  # a joined vector: its leaves are in the rows above


def _text(index: tuple[int, ...]) -> str:
    return f"[{', '.join(map(str, index))}]" if index else ""
