"""The build step pyproject.toml cannot say: the bundled mailing goes into the wheel.

The bundled mailing (templates/veiligheidsstrategie-2019) and its list
(recipients/midden-nederland.csv) live at the top of the repository, where a secretariat finds
them. A wheel has no such top, so building one copies both into the package as
distributie/bundled/, keeping their layout: mailing.toml's "../../recipients/..." still leads to
the list. distributie/compose/bundled.py finds them there when installed, and in the checkout
when installed editable (where nothing is copied: the checkout is the one copy).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("templates/veiligheidsstrategie-2019", "recipients/midden-nederland.csv")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


class BuildPyWithBundledMailing(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "distributie" / "bundled"
        for relative in BUNDLED:
            source, copy = ROOT / relative, target / relative
            if not source.exists():
                raise FileNotFoundError(f"{source}: the bundled mailing must be in the wheel")
            copy.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, copy, ignore=IGNORED, dirs_exist_ok=True)
            else:
                shutil.copy2(source, copy)


setup(cmdclass={"build_py": BuildPyWithBundledMailing})
