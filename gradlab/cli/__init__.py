"""The ``gradlab`` command line: ``main`` (the parser and the commands), ``discover`` (importing a
user's module and finding its ops), ``adapters`` (each style of op as an :class:`~gradlab.ops.Op`),
``infer`` (shapes by asking the op), ``session`` (what is checked and its outcomes), and the reports
``console_report`` (rich), ``report_files`` (JSON, JUnit XML).

Light on purpose: ``gradlab --help`` imports neither NumPy nor Hypothesis.
"""
