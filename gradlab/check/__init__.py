"""The checks of one rule at one input: :func:`~gradlab.check.grads.check_grads` and what it is made of.

``grads`` runs the steps: ``task`` (the arguments, validated), ``form`` (calling the user's forward
and rules safely), ``sampling`` (precision, probes, samples of the forward) over ``numerics`` (the
finite-difference stencils), then the checks ``rev`` (with ``localise``), ``fwd`` and ``adj``, which
``compare`` analytic with numeric values under ``tolerances``, ``diagnose`` what a mismatch looks
like, and fill ``results`` (plain data, and its plain-text account); ``assertions`` raises on them.

Nothing here imports the registry, the fuzzer or the command line: a rule is any callable.
"""
