"""What the test modules that need a course share: `make` on a course folder, and the course
after `make assignment`, built once for its inputs and copied for each module.

`make assignment` (the source laid out, nbgrader's release, the gradebook, the zip) takes about
half a minute; tests/test_release.py, tests/test_grading.py, tests/test_assignment.py and
tests/test_student_path.py each need one of their own to change. The first worker that needs it
builds it in build/assignment/<key>/, under a file lock, where <key> is a hash of everything the
build reads (the notebooks, the files the release ships, the tools, the Makefile and the
settings, nbgrader's version); every module, on any pytest-xdist worker and in later runs, gets a
copy. A change to any input gives a new key, and the old build is removed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import nbgrader
from filelock import FileLock

from tools.grading.course import FILES
from tools.project import ROOT
from tools.series import notebook_paths

CACHE = ROOT / "build" / "assignment"


def make(target: str, course: Path, *, succeeds: bool = True, **variables: str) -> str:
    """Run `make target COURSE=course` (.venv as it is: -o, make test has just set it up); check
    its exit status; keep its output in ``course``'s folder as ``<target>.log``; return it."""
    command = ["make", "-o", ".venv/installed", target, f"COURSE={course}"]
    command += [f"{name}={value}" for name, value in variables.items()]
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    course.parent.mkdir(parents=True, exist_ok=True)
    log = course.parent / f"{target}.log"
    log.write_text(result.stdout)
    assert (result.returncode == 0) == succeeds, (
        f"make {target}: exit {result.returncode}, see {log}\n{result.stdout[-3000:]}"
    )
    return result.stdout


def inputs() -> list[Path]:
    """Every file `make assignment` reads from the repository."""
    tools = sorted((ROOT / "tools").rglob("*.py"))
    settings = [ROOT / name for name in ("Makefile", "pyproject.toml", "nbgrader_config.py")]
    return [*notebook_paths(), *(ROOT / name for name in FILES), *tools, *settings]


def key() -> str:
    """A hash of the build's inputs (their paths and contents) and of nbgrader's version."""
    digest = hashlib.sha256(nbgrader.__version__.encode())
    for path in inputs():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def assignment_course(dest: Path) -> Path:
    """A copy at ``dest`` of the course after `make assignment`, built once for its inputs."""
    built = CACHE / key() / "course"
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(CACHE / "lock"):
        if not built.exists():
            for old in CACHE.iterdir():  # builds of other inputs: never used again
                if old.is_dir():
                    shutil.rmtree(old)
            staging = built.parent / "staging" / "course"
            make("assignment", staging)
            staging.rename(built)
    shutil.copytree(built, dest, symlinks=True)
    return dest
