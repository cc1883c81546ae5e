"""The build puts the op specs (specs/*.toml, kept at the repository's top level) into the package,
as gradlab/specs/, so a wheel or an sdist install finds them (gradlab.ops.spec.SPEC_DIR)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SPECS = Path(__file__).resolve().parent / "specs"


class BuildWithSpecs(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads specs/ where it is
            return
        target = Path(self.build_lib) / "gradlab" / "specs"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(SPECS.glob("*.toml")):
            shutil.copyfile(path, target / path.name)


setup(cmdclass={"build_py": BuildWithSpecs})
