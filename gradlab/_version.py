"""The version of gradlab (pyproject.toml reads it from here) and the name it is installed by."""

__version__ = "0.1.0"

# the distribution's name on the package index ("gradlab" there is another project); the import
# name and the command stay gradlab
DISTRIBUTION = "gradlab-check"


def install_hint(extra: str) -> str:
    """The command that installs gradlab with one of its extras: ``pip install 'gradlab-check[plot]'``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"
