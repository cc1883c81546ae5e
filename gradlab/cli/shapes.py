"""The labelled shapes inferred for an op (:func:`gradlab.cli.infer.infer_shapes`), in words and as a spec."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gradlab.ops.spec import Spec, parse_spec

# leading batch dimensions probed, and drawn (up to the longest)
BATCH_PROBES = ((4,), (6, 4))


@dataclass
class Shapes:
    """Labelled core shapes an op accepted, e.g. x (n, d), w (d, m), b (m,); "1" is a literal 1."""

    names: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]
    out: tuple[str, ...] | None
    domain: str = "real"
    batch: bool = False
    elementwise: bool = False
    broadcast: bool = False  # batch dims broadcast between the inputs (some may have none)

    def signature(self) -> str:
        outs = ",".join(self.out) if self.out is not None else ""
        return ",".join(f"({','.join(dims)})" for dims in self.labels) + f"->({outs})"

    def describe(self) -> str:
        same = ", the same for every input" if len(self.names) > 1 else ""
        batch = len(BATCH_PROBES[-1])
        if self.elementwise:
            text = f"{', '.join(self.names)} of any shape (1 to {batch + 1} dimensions){same}"
        else:
            text = ", ".join(f"{n} {_shape_text(dims)}" for n, dims in zip(self.names, self.labels, strict=True))
            if self.batch:
                text += f" plus up to {batch} leading batch dimensions"
                text += " (broadcast between the inputs)" if self.broadcast else same
        if self.domain == "positive":
            text += "; values positive (the forward gives NaN or Inf on negative ones)"
        elif self.domain == "nonzero":
            text += "; values at least 0.2 away from 0"
        return text

    def spec(self, name: str, checks: Sequence[str], source: str, params: dict[str, Any] | None = None) -> Spec:
        rank = max((len(d) for d in self.labels), default=0)
        table = {
            "shape": self.signature(),
            "batch": self.batch,
            "broadcast": self.broadcast,
            # an autodiff framework's ops broadcast batch dims by missing leading ones (needle's matmul)
            "broadcast_ones": False,
            "max_dims": len(BATCH_PROBES[-1]),
            # rank-4 inputs of side 4 are already 256 entries: keep the examples quick to check
            "max_side": 4 if rank <= 2 else 3,
            "inputs": [{"name": n, "domain": self.domain} for n in self.names],
            "checks": list(checks),
            "params": params or {},
            "domain_by_forward": True,
        }
        return parse_spec(name, table, f"<shapes inferred for {source}>")


def _shape_text(dims: Sequence[str]) -> str:
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
