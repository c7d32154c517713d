"""Where the bundled mailing and its list are: inside the package when distributie was installed
from a wheel (setup.py copies them to distributie/bundled/), at the top of the checkout when it
runs from one (an editable install, or the source tree)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

MAILING = "templates/veiligheidsstrategie-2019"


def bundled_path(relative: str) -> Path:
    """A file or folder of the bundled mailing, relative to the repository's top."""
    package = resources.files("distributie")
    # Installed from a wheel, the package is a folder on disk (distributie is never zipped).
    if isinstance(package, Path):
        packaged = package / "bundled" / relative
        if packaged.exists():
            return packaged
    return Path(__file__).resolve().parents[2] / relative


BUNDLED_MAILING = bundled_path(MAILING)
