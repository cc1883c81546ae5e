"""gradlab as a user installs it: an sdist built from this checkout, a wheel built from that sdist,
installed (not editable) into a fresh virtual environment; the installed copy must find its specs,
its bundled data and its pytest fixture without this checkout.

Needs the package index (or pip's cache) for the build's setuptools and gradlab's dependencies, as
any install does."""

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=None, timeout=600):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, args))}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("packaging")
    run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", tmp / "dist", ROOT)  # the wheel from the sdist
    (wheel,) = (tmp / "dist").glob("*.whl")
    run(sys.executable, "-m", "venv", tmp / "venv")
    python = tmp / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", f"{wheel}[test]")
    return wheel, python, tmp


def test_the_wheel_carries_the_specs_the_data_and_the_type_marker(installed):
    wheel, _, _ = installed
    assert wheel.name.startswith("gradlab_check-")
    names = set(zipfile.ZipFile(wheel).namelist())
    specs = {f"gradlab/specs/{p.name}" for p in (ROOT / "specs").glob("*.toml")}
    assert specs and specs <= names
    assert {"gradlab/py.typed", "gradlab/train/digits.npz"} <= names


def test_the_installed_copy_checks_the_registry_and_serves_the_fixture(installed):
    _, python, tmp = installed
    gradlab = python.parent / "gradlab"
    where = run(python, "-c", "import gradlab; print(gradlab.__file__)", cwd=tmp).stdout
    assert str(ROOT) not in where  # the installed copy, not this checkout
    check = run(gradlab, "check", "--registry", "-k", "^(softmax|matmul)$", "--examples", "5", "--no-color", cwd=tmp)
    assert "4 passed" in check.stdout or check.stdout.count("passed") >= 4, check.stdout
    test = tmp / "test_user.py"
    test.write_text(
        textwrap.dedent("""
        def test_softmax(gradcheck):
            gradcheck("softmax")
    """)
    )
    result = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", test, cwd=tmp)
    assert "1 passed" in result.stdout
    run(gradlab, "train", "--epochs", "1", cwd=tmp)  # the bundled digits, no scikit-learn
