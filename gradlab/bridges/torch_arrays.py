"""torch tensors as gradlab's arrays and back, sharing memory where DLPack allows."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlab.errors import GradlabError


def to_array(t: Any) -> Any:
    """A tensor as an array of gradlab's namespaces, sharing its memory where DLPack allows."""
    import torch

    t = t.detach()
    if t.is_conj():
        t = t.resolve_conj()
    if t.dtype == torch.bfloat16:  # NumPy has none: its values, exactly, in float32 (a copy)
        t = t.float()
    if t.device.type == "cpu":
        return t.numpy()
    if t.device.type == "cuda":
        try:
            import cupy
        except ImportError:
            raise GradlabError(
                "a CUDA tensor: gradlab checks it on the GPU with CuPy, which is not installed"
                " (pip install 'gradlab-check[cupy]'), or move it to the CPU (x.cpu())"
            ) from None
        return cupy.from_dlpack(t)
    raise GradlabError(f"a tensor on {t.device}: gradlab checks tensors on the CPU and on CUDA (with CuPy)")


def to_tensor(a: Any, low: bool = False) -> Any:
    """An array of gradlab's as a tensor, sharing its memory where it can; ``low``: the array holds
    a bfloat16 tensor's values (in float32), made bfloat16 again unless gradlab widened it to
    float64 (the numerics run the forward there)."""
    import torch

    if low and a.dtype == np.float32:
        return torch.from_numpy(np.array(a)).to(torch.bfloat16)

    if isinstance(a, np.ndarray | np.generic):
        a = np.asarray(a)
        if a.flags.writeable and all(s >= 0 for s in a.strides):
            return torch.from_numpy(a)
        return torch.tensor(a)
    return torch.from_dlpack(a)
