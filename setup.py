"""Maps the repository's folders to subpackages of ``pix2pix_stream`` (metadata is in pyproject).

Kept as code because setuptools' declarative config cannot find subpackages under a mapped
folder: every folder below one of FOLDERS that holds an ``__init__.py`` is listed here."""
from pathlib import Path

from setuptools import setup

FOLDERS = ("media", "networks", "pix2pix", "engines", "server", "client", "protos")
ROOT = Path(__file__).resolve().parent


def subpackages(folder: str) -> list[str]:
    found = []
    for init in sorted((ROOT / folder).rglob("__init__.py")):
        relative = init.parent.relative_to(ROOT)
        found.append(".".join(("pix2pix_stream", *relative.parts)))
    return found


packages = ["pix2pix_stream"] + [name for folder in FOLDERS if (ROOT / folder).is_dir()
                                 for name in subpackages(folder)]
package_dir = {"pix2pix_stream": "pix2pix_stream"}
package_dir.update({f"pix2pix_stream.{folder}": folder for folder in FOLDERS
                    if (ROOT / folder).is_dir()})
setup(packages=packages, package_dir=package_dir)
