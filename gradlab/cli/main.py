"""The ``gradlab`` command line. Heavy modules are imported only by the command that runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gradlab.cli import commands

MAIN_EPILOG = """\
examples:
  gradlab check my_layers.py                 check every op found in a module
  gradlab check my_layers.py::affine -v      check one op, with more detail
  gradlab check --registry -k softmax        check built-in ops matching a pattern
  gradlab list my_layers.py                  what gradlab finds in a module

verdicts: passed; FAILED (wrong values or shapes, a mutated argument, non-determinism);
warning (legal but suspect: float32 inputs given float64 gradients); unfinished (pass,
None or NotImplementedError: not written yet); ERROR (cannot be checked, the reason first).

exit codes: 0 every finished rule is right (warnings and unfinished functions allowed unless
--strict), 1 a rule is wrong or an op could not be checked, 2 the command could not run
(usage error, missing file, import error, nothing to check)
"""

CHECK_EPILOG = """\
A PATH is a Python file, a folder (every module in it that holds ops, with one summary), or
FILE.py::NAME to pick one op; a file inside a package is imported as part of it (relative
imports work). gradlab finds, without being told: ops made with gradlab.op / defvjp / defjvp;
classes with compute()/forward() and gradient()/vjp()/backward() (and optionally jvp()), run in
their own framework (needle's Tensors); the graph API of dlsys autodiff.py; torch.autograd.Function
subclasses, jax.custom_vjp / custom_jvp functions and HIPS autograd primitives, checked through
their own framework's autodiff (pip install 'gradlab-check[torch]', [jax], [autograd]); and course-style
pairs NAME_forward(...) -> (out, cache) with NAME_backward(dout, cache) -> grads (and any
NAME_backward_alt), and NAME_loss(x, y) -> (loss, dx). Shapes come from the op's spec, a
FILE.toml beside the module, [tool.gradlab.ops.NAME] in pyproject.toml, or are inferred by
trying the forward (printed for every op); config dicts (conv_param, pool_param, bn_param...)
are drawn from their valid values. [tool.gradlab] in the nearest pyproject.toml sets the flags'
defaults (dtypes, examples, profile, seed, mode, timeout, strict, jobs); a flag given wins.

examples:
  gradlab check examples/course_style.py
  gradlab check examples/buggy_layernorm.py --json report.json --junit-xml report.xml
  gradlab check examples/buggy_layernorm.py --html report.html
  gradlab check examples/torch_function.py
  gradlab check --registry --profile thorough --dtype float32
  gradlab check my_ops.py::softsign --seed 3 --examples 500 --mode full
  gradlab check src/ --jobs 4 --shard 2/3
"""

TRAIN_EPILOG = """\
examples:
  gradlab train                                      MLP 64-128-10 on the scikit-learn digits
  gradlab train --model softmax                      softmax regression
  gradlab train --hidden 256,128 --norm layer --dropout 0.1 --optimizer momentum
  gradlab train --dataset mnist:~/data/mnist --hidden 256 --epochs 5 --json run.json --plot curves.png
"""

LIST_EPILOG = """\
examples:
  gradlab list                 the built-in registry
  gradlab list my_layers.py    the ops gradlab finds in a module, with their shapes
"""


def build_parser(check_defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradlab",
        description="Check hand-written VJP (reverse mode) and JVP (forward mode) rules against numerical"
        " derivatives and each other, on inputs drawn by Hypothesis.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gradlab {_version()}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = subcommands.add_parser(
        "check",
        help="check the ops of a module (or the built-in registry)",
        description="Fuzz every op found and report, per op, whether its rules are right.",
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("paths", nargs="*", metavar="PATH", help="FILE.py, FOLDER or FILE.py::NAME")
    check.add_argument("--registry", action="store_true", help="check the built-in ops")
    check.add_argument(
        "-k", dest="pattern", metavar="PATTERN", help="only ops whose name matches this regular expression"
    )
    check.add_argument(
        "--examples", type=_positive_int, metavar="N", help="examples per op and dtype (overrides --profile)"
    )
    check.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the example generation (default 0)")
    check.add_argument("--profile", choices=("quick", "thorough"), default="quick",
                       help="quick: 100 examples per op and dtype (default); thorough: 2000")  # fmt: skip
    check.add_argument(
        "--dtype", choices=("float32", "float64", "all"), default="all", help="dtypes to check (default all)"
    )
    check.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where the checks run (cuda needs CuPy)"
    )
    check.add_argument("--mode", choices=("auto", "full", "projected"), default="auto",
                       help="full Jacobian, random projections, or auto by input size (default)")  # fmt: skip
    check.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                       help="time limit of one example, or of one call while shapes are inferred,"
                       " before the op counts as hanging (default 20)")  # fmt: skip
    check.add_argument("--strict", action="store_true",
                       help="warnings and unfinished functions fail the run too (exit 1)")  # fmt: skip
    check.add_argument("-j", "--jobs", type=_positive_int, metavar="N",
                       help="processes checking ops side by side (default: all cores); same results")  # fmt: skip
    check.add_argument("--shard", type=_shard, metavar="K/N",
                       help="only shard K of N (every N-th op from the K-th): a run split over N machines")  # fmt: skip
    check.add_argument("--json", metavar="FILE", help="write the results as JSON")
    check.add_argument("--junit-xml", metavar="FILE", help="write the results as JUnit XML")
    check.add_argument(
        "--html", metavar="FILE", help="write a self-contained HTML report, with heat maps of the failing Jacobians"
    )
    _output_options(check)
    check.set_defaults(run=commands.run_check, **(check_defaults or {}))

    training = subcommands.add_parser(
        "train",
        help="train the reference MLP / softmax regression",
        description="Train a model of the reference training core (built from the checked ops) and report"
        " loss and accuracy per epoch.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    training.add_argument("--dataset", default="digits", help="digits, spiral or mnist:PATH (default digits)")
    training.add_argument("--model", choices=("softmax", "mlp"), default="mlp")
    training.add_argument("--hidden", default="128", help="hidden sizes, comma-separated (default 128)")
    training.add_argument("--activation", choices=("relu", "sigmoid", "tanh", "gelu"), default="relu")
    training.add_argument("--norm", choices=("none", "layer", "batch"), default="none")
    training.add_argument("--dropout", type=float, default=0.0, metavar="P")
    training.add_argument("--optimizer", choices=("sgd", "momentum", "nesterov", "adam"), default="adam")
    training.add_argument("--lr", type=float, default=None, help="learning rate (default: tuned per optimizer)")
    training.add_argument("--weight-decay", type=float, default=0.0)
    training.add_argument("--epochs", type=_positive_int, default=20)
    training.add_argument("--batch-size", type=_positive_int, default=64)
    training.add_argument("--seed", type=int, default=0)
    training.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    training.add_argument("--plot", metavar="FILE.png", help="write loss and accuracy curves (needs matplotlib)")
    training.add_argument("--json", metavar="FILE", help="write the history as JSON")
    _output_options(training)
    training.set_defaults(run=commands.run_train)

    listing = subcommands.add_parser(
        "list",
        help="list the registry, or what a module exposes",
        description="List ops with their checks, input domains and shapes.",
        epilog=LIST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("paths", nargs="*", metavar="PATH", help="FILE.py or FILE.py::NAME (default: the registry)")
    listing.add_argument("-k", dest="pattern", metavar="PATTERN", help="only ops whose name matches")
    _output_options(listing)
    listing.set_defaults(run=commands.run_list)
    return parser


def _output_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("-q", "--quiet", action="store_true", help="only the verdict and failures")
    sub.add_argument("-v", "--verbose", action="store_true", help="more detail")
    sub.add_argument("--no-color", action="store_true", help="plain text output")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _shard(text: str) -> str:
    parts = text.split("/")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or not 1 <= int(parts[0]) <= int(parts[1]):
        raise argparse.ArgumentTypeError(f"{text!r}: give K/N with 1 <= K <= N, e.g. 2/4 for the second of four shards")
    return text


def _version() -> str:
    from gradlab._version import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    from gradlab.errors import GradlabError

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["check"]:  # [tool.gradlab] in pyproject.toml: defaults of the flags given no value
        from gradlab.cli import config

        try:
            settings = config.load(Path.cwd())
        except GradlabError as exc:
            print(f"gradlab: {exc}", file=sys.stderr)
            return commands.EXIT_USAGE
        parser = build_parser({**settings.defaults, "config": settings})
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return commands.EXIT_USAGE
    try:
        return int(args.run(args))
    except GradlabError as exc:
        print(f"gradlab: {exc}", file=sys.stderr)
        return commands.EXIT_USAGE
    except KeyboardInterrupt:
        print("gradlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
