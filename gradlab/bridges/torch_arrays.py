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
    if t.dtype == torch.bfloat16:
        raise GradlabError("a bfloat16 tensor: NumPy has no bfloat16; check in float32 (x.float()) and float16")
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


def to_tensor(a: Any) -> Any:
    """An array of gradlab's as a tensor, sharing its memory where it can."""
    import torch

    if isinstance(a, np.ndarray | np.generic):
        a = np.asarray(a)
        if a.flags.writeable and all(s >= 0 for s in a.strides):
            return torch.from_numpy(a)
        return torch.tensor(a)
    return torch.from_dlpack(a)
