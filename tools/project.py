"""The project's own settings, each in one home: ``[tool.conv-im2col]`` in pyproject.toml.

``repository`` and ``branch`` (where a notebook opened alone fetches its helper files, and the
launch buttons point), ``helper-files`` (what a notebook needs next to it: the set-up cell, the
assignment, the grading sandbox), ``assignment`` (the name nbgrader, the Makefile, the release
zip and the tests use). Read them here, never copy them; the Makefile asks

    python -m tools.project assignment      # prints the setting
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def settings(root: Path = ROOT) -> dict:
    """The project's ``[tool.conv-im2col]`` settings from ``pyproject.toml``."""
    return tomllib.loads((root / "pyproject.toml").read_text())["tool"]["conv-im2col"]


ASSIGNMENT: str = settings()["assignment"]  # the whole series, graded as one nbgrader assignment
HELPER_FILES: list[str] = settings()["helper-files"]  # paths from the repository root


if __name__ == "__main__":
    print(settings()[sys.argv[1]])
