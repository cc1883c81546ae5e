"""The reference training core, built only from registry ops: ``autograd`` (the reverse- and
forward-mode ``Tensor``), ``nn`` (layers and losses), ``init``, ``optim``, ``data`` and ``loop``
(``gradlab train``).

Importing it registers each layer as an op (``layer_ops``), so ``gradlab check --registry`` checks
the layers with the same fuzzer as the array ops they are built from.
"""

from gradlab.train import layer_ops  # noqa: F401  (the layers register as ops)
