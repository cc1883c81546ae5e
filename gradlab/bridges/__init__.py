"""Bridges to other autodiff frameworks: rules written for PyTorch, JAX and HIPS autograd, checked by
gradlab on their own values (:mod:`gradlab.check.bridges` says how a bridge is found).

Each module here imports its framework inside its functions only: loading a bridge never imports
the framework, and a bridge is loaded only when the framework is already imported.
"""
