"""Lay out the assignment's source for nbgrader: the series' notebooks and what they need.

    python -m tools.grading.course course/source/conv-im2col [--notebooks notebooks]

Writes the folder anew with every notebook of the series (``notebook_paths``), ``utils.py``
next to them (the notebooks import it from their own folder), the bundled CIFAR-10 sample,
the students' environment files (``FILES``) and their README. `make assignment` runs it, then
`nbgrader generate_assignment` strips the solutions into ``course/release/``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from tools.project import HELPER_FILES
from tools.series import NOTEBOOK_DIR, ROOT, notebook_paths

# The students' files, copied as they are: path in the repository -> path in the assignment.
# Only what a student uses: their requirements and pins, not the maintainers' tools.
FILES = {name: name for name in HELPER_FILES} | {
    "requirements.txt": "requirements.txt",
    "constraints-students.txt": "constraints.txt",
    "environment.yml": "environment.yml",
    "tools/grading/assignment_README.md": "README.md",
}


def copy_students_files(dest: Path) -> None:
    """Copy ``FILES`` (all but the notebooks) into ``dest``."""
    for ours, theirs in FILES.items():
        (dest / theirs).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / ours, dest / theirs)


def build_source(dest: Path, notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """Fill ``dest`` (emptied first) with the assignment's files; return the notebooks copied."""
    notebooks = notebook_paths(notebook_dir)
    if not notebooks:
        raise ValueError(f"notebook_dir: no NN_name.ipynb notebook in {notebook_dir}")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for path in notebooks:
        shutil.copy(path, dest / path.name)
    copy_students_files(dest)
    return [dest / path.name for path in notebooks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "dest", type=Path, help="the assignment's source folder, e.g. course/source/conv-im2col"
    )
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOK_DIR, help="where the series is")
    args = parser.parse_args()
    copied = build_source(args.dest, args.notebooks)
    print(f"{args.dest}: {len(copied)} notebooks, utils.py and data")


if __name__ == "__main__":
    main()
