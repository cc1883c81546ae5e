"""The fuzzer: Hypothesis draws examples from an op's spec and every check runs on each.

``strategies`` turns a spec into Hypothesis strategies; ``driver`` fuzzes an op (``fuzz_op``) and
shrinks a failure; ``outcome`` is what it found; ``profiles`` how hard it tries (light: the pytest
plugin and Hypothesis' entry point import it at start-up, so this package imports nothing).
"""
