"""Write constraints-students.txt: the pins of constraints.txt that a student's install uses.

    python -m tools.students_constraints     (`make lock` runs it after freezing constraints.txt)

Asks pip what it would install for requirements.txt under constraints.txt on an empty
environment (a dry run: it downloads no package, only the index) and pins exactly that. The
students' release ships the file as its constraints.txt, so a student gets the versions the
series was tested with, and no pin of a tool only maintainers install.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.series import ROOT

# Read by students in their release (as constraints.txt), so it names nothing only the repository has.
HEADER = """\
# Every package that requirements.txt installs, pinned to the version the series was tested
# with (on Linux; elsewhere pip skips the lines it does not need), for
# `pip install -r requirements.txt -c constraints.txt`.
"""
# What `pip freeze` leaves out of constraints.txt, left out here too.
INSTALLERS = {"pip", "setuptools", "wheel", "distribute"}


def students_pins() -> list[str]:
    """``name==version`` for each package pip would install for requirements.txt, by name."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed"]
        command += ["--report", str(report), "-r", "requirements.txt", "-c", "constraints.txt"]
        subprocess.run(command, cwd=ROOT, check=True)
        installs = json.loads(report.read_text())["install"]
    metadata = [item["metadata"] for item in installs if item["metadata"]["name"].lower() not in INSTALLERS]
    return [f"{m['name']}=={m['version']}" for m in sorted(metadata, key=lambda m: m["name"].lower())]


def main() -> None:
    pins = students_pins()
    (ROOT / "constraints-students.txt").write_text(HEADER + "\n".join(pins) + "\n")
    print(f"constraints-students.txt: {len(pins)} packages")


if __name__ == "__main__":
    main()
