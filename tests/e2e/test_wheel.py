"""Installing from a wheel: the wheel is built from a copy of the checkout, installed into a fresh
venv outside it, and `distributie check` and `render` run there on the bundled mailing.

The build runs offline: without build isolation, with the setuptools of the test's own venv. The
fresh venv gets distributie from the wheel alone (--no-deps); its dependencies come from the test's
venv through a .pth file, which adds those packages but not the editable install of the checkout
(a .pth file in a folder a .pth file adds is not read).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "distributie")
BUNDLED = ("templates/veiligheidsstrategie-2019", "recipients/midden-nederland.csv")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index"]
PIP_WHEEL += ["--no-build-isolation"]  # offline: the setuptools of the test's venv
PIP_INSTALL = ["-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    site_packages: Path
    workdir: Path  # an empty folder outside the checkout, to run commands in

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISTRIBUTIE_", "PYTHON"))}
        env["COLUMNS"] = "300"
        return subprocess.run(
            [str(self.venv / "bin" / "distributie"), *args],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )


def _copy_checkout(target: Path) -> None:
    target.mkdir(parents=True)
    for name in (*SOURCES, "templates", "recipients"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=IGNORED)
        else:
            shutil.copy2(source, target / name)


def _build_wheel(tmp: Path) -> Path:
    source, dist = tmp / "source", tmp / "dist"
    _copy_checkout(source)
    subprocess.run(
        [*PIP_WHEEL, "--wheel-dir", str(dist), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("distributie-*.whl")
    return wheel


def _fresh_venv(tmp: Path, wheel: Path) -> tuple[Path, Path]:
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    site_packages = Path(purelib)
    dependencies = [*site.getsitepackages(), site.getusersitepackages()]
    (site_packages / "test-dependencies.pth").write_text("\n".join(dependencies) + "\n")
    subprocess.run(
        [str(venv / "bin" / "python"), *PIP_INSTALL, str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return venv, site_packages


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(tmp)
    venv, site_packages = _fresh_venv(tmp, wheel)
    workdir = tmp / "work"
    workdir.mkdir()
    return Installed(wheel, venv, site_packages, workdir)


def test_the_wheel_holds_every_file_the_package_reads_and_the_bundled_mailing(
    installed: Installed,
) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    package_files = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "distributie").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    bundled = {
        f"distributie/bundled/{path.relative_to(ROOT)}"
        for relative in BUNDLED
        for path in [ROOT / relative, *(ROOT / relative).rglob("*")]
        if path.is_file() and "__pycache__" not in path.parts
    }

    assert package_files - names == set()
    assert bundled - names == set()
    assert "distributie/bundled/recipients/midden-nederland.csv" in names


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Installed) -> None:
    done = subprocess.run(
        [
            str(installed.venv / "bin" / "python"),
            "-c",
            "import distributie; print(distributie.__file__)",
        ],
        cwd=installed.workdir,
        capture_output=True,
        text=True,
        check=True,
    )

    assert Path(done.stdout.strip()).is_relative_to(installed.site_packages)


def test_check_finds_the_bundled_mailing_and_list_in_the_installed_package(
    installed: Installed,
) -> None:
    done = installed.run("check")
    bundled = installed.site_packages / "distributie" / "bundled"

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"({bundled / 'templates' / 'veiligheidsstrategie-2019'})" in done.stdout
    assert f"Recipients:  39 in {bundled / 'recipients' / 'midden-nederland.csv'}" in done.stdout
    assert "OK: every recipient renders; nothing was sent." in done.stdout


def test_render_writes_every_message_of_the_bundled_mailing(installed: Installed) -> None:
    done = installed.run("render", "--out", "berichten")

    assert done.returncode == 0, done.stdout + done.stderr
    written = sorted((installed.workdir / "berichten").glob("*.eml"))
    assert len(written) == 39
    assert (
        b"voorbeeld-aanbiedingsbrief"
        in (installed.workdir / "berichten" / "baarn.eml").read_bytes().lower()
    )


def test_the_docker_image_is_installed_from_the_wheel() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")

    assert "pip wheel" in dockerfile
    assert "pip install --no-cache-dir /wheels/*.whl" in dockerfile
    assert "-e ." not in dockerfile
