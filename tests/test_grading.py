"""tools/grading/grade.py: a class graded several students at once, on SQLite and on PostgreSQL.

One small class (one notebook each: right, partly right) is graded with --jobs 1, then again
with --jobs 2; the gradebook, grades.csv and the feedback must agree. A worker killed
mid-grading must leave the gradebook as it was, and the next run grades that student. The same
class graded into a real PostgreSQL server (started here on a local socket) must read back the
same. What a submission scores for what is tests/test_assignment.py's; here, only that
grade.py records it the same way however it runs.
"""

import csv
import difflib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbgrader.api import Gradebook
from scaffold import make

from tools.markup import is_solution, without_solution_markers
from tools.project import ASSIGNMENT
from tools.series import ROOT, notebook_paths

NOTEBOOK = notebook_paths()[0]  # a quick notebook to grade
# A right answer that first sleeps: its kernel runs long enough for the test to find and kill
# its worker, and the run after that grades it in a few seconds more than a right one.
SLOW = "import time\n\ntime.sleep(5)\n"

pytestmark = pytest.mark.slow(100)  # seconds, alone on a 2-core machine


def answers(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if is_solution(c)]


# A first answer that catches the interrupt and goes on, for ever.
STUBBORN = """import time

while True:
    try:
        while True:
            time.sleep(0.01)
    except KeyboardInterrupt:
        pass
"""


def plant(course: Path, students: dict[str, str]) -> None:
    """Write each student's submission of NOTEBOOK: 'right', 'partly' (the first answer left
    blank), 'slow' (right, after a sleep) or 'stubborn' (right, but the second answer ignores
    the interrupt)."""
    source = nbformat.read(course / "source" / ASSIGNMENT / NOTEBOOK.name, as_version=4)
    for student, kind in students.items():
        nb = nbformat.read(course / "release" / ASSIGNMENT / NOTEBOOK.name, as_version=4)
        first, *rest = answers(nb)
        for index in rest:
            nb.cells[index].source = without_solution_markers(source.cells[index].source)
        if kind in ("right", "slow", "stubborn"):
            nb.cells[first].source = without_solution_markers(source.cells[first].source)
        if kind == "slow":
            nb.cells[first].source = SLOW + nb.cells[first].source
        if kind == "stubborn":  # the second answer: the first keeps its points
            nb.cells[rest[0]].source = STUBBORN + nb.cells[rest[0]].source
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / NOTEBOOK.name)


CLASS = {"right": "right", "partly": "partly"}


def grade(course: Path, *args: str, wait: bool = True):
    """Run tools/grading/grade.py on the course; its process, or its exit status and output."""
    command = [sys.executable, "-m", "tools.grading.grade", ASSIGNMENT, "--course", str(course), *args]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not wait:
        return process
    out, _ = process.communicate()
    return process.returncode, out


def snapshot(course: Path, db_url: str | None = None) -> dict:
    """Everything a grade is: per-cell scores and comments, grades.csv, the feedback pages."""
    cells = {}
    with Gradebook(db_url or f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in gb.students:
            for submission in student.submissions:
                for notebook in submission.notebooks:
                    key = (student.id, notebook.name)
                    cells[key] = sorted(
                        (g.name, g.auto_score, g.max_score, g.needs_manual_grade) for g in notebook.grades
                    )
                    cells[key] += sorted((c.name, c.auto_comment) for c in notebook.comments)
    with (course / "grades.csv").open() as f:
        rows = sorted((r["student_id"], r["score"], r["max_score"]) for r in csv.DictReader(f))

    def page(path: Path) -> str:
        """A feedback page, but for the random ids of matplotlib's animations and the course's path."""
        return re.sub(r"[0-9a-f]{32}", "<id>", path.read_text().replace(str(course), "<course>"))

    feedback = {
        path.relative_to(course).as_posix(): Page(
            re.findall(r"Score: [0-9.]+ / [0-9.]+", path.read_text()), page(path)
        )
        for path in sorted((course / "feedback").rglob("*.html"))
    }
    return {"cells": cells, "grades.csv": rows, "feedback": feedback}


class Page:
    """A feedback page in a snapshot: equal to another if its scores and text are; shown by its
    scores and hash, and, when two differ, by the lines that differ (assert_same)."""

    def __init__(self, scores: list[str], text: str):
        self.scores, self.text = scores, text

    def __eq__(self, other) -> bool:
        return isinstance(other, Page) and (self.scores, self.text) == (other.scores, other.text)

    def __repr__(self) -> str:
        return f"Page({self.scores}, sha256 {hashlib.sha256(self.text.encode()).hexdigest()[:12]})"


def assert_same(got: dict, expected: dict) -> None:
    """``got`` == ``expected`` (snapshots); if a feedback page differs, its differing lines (cut to
    200 characters: pictures are long lines of base64) are in the message."""
    diffs = []
    for name, page in got["feedback"].items():
        other = expected["feedback"].get(name)
        if other is not None and page != other:
            lines = difflib.unified_diff(
                [line[:200] for line in other.text.splitlines()],
                [line[:200] for line in page.text.splitlines()],
                "expected", "got", n=1, lineterm="",
            )  # fmt: skip
            diffs.append(f"{name}:\n" + "\n".join(list(lines)[:60]))
    assert got == expected, "\n\n".join(diffs)


@pytest.fixture(scope="module")
def course(assignment_course) -> Path:
    plant(assignment_course, CLASS)
    return assignment_course


@pytest.fixture(scope="module")
def one_at_a_time(course) -> dict:
    code, out = grade(course, "--jobs", "1")
    assert code == 0, out
    assert "Graded 2 of 2 submissions" in out, out
    return snapshot(course)


def test_the_class_is_graded_as_planted(course, one_at_a_time):
    grades = {
        student: [cell for cell in cells if len(cell) == 4]  # (grade_id, score, max score, review?)
        for (student, notebook), cells in one_at_a_time["cells"].items()
        if notebook == NOTEBOOK.stem
    }
    scores = {student: [cell[1] for cell in cells] for student, cells in grades.items()}
    assert all(score == top for _, score, top, _ in grades["right"]), grades
    assert sorted(scores["partly"])[0] == 0 and max(scores["partly"]) > 0, scores
    assert not (course / ".grading").exists() or not any((course / ".grading").iterdir())


def test_two_at_a_time_gives_exactly_the_same_grades(course, one_at_a_time):
    code, out = grade(course, "--jobs", "2", "--force")
    assert code == 0, out
    assert_same(snapshot(course), one_at_a_time)


def worker_grading(course: Path, student: str, timeout: float = 120) -> psutil.Process:
    """The Dask worker process whose kernel is running this student's notebook."""
    folder = str(course / ".grading" / student)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in psutil.process_iter(["cwd"]):
            if (process.info["cwd"] or "").startswith(folder):  # the kernel
                for parent in process.parents():
                    if "spawn_main" in " ".join(parent.cmdline()):
                        return parent
        time.sleep(0.5)
    raise AssertionError(f"no kernel of {student} ran within {timeout} s")


def test_a_killed_worker_leaves_the_gradebook_consistent_and_the_student_is_graded_next_run(
    course, one_at_a_time
):
    before = snapshot(course)
    plant(course, {"killed": "slow"})
    run = grade(course, "--jobs", "2", wait=False)
    worker_grading(course, "killed").kill()
    # Its output ends when grade.py and everything it started have: a sandbox that outlived its
    # killed worker once kept it open until pytest's 15-minute timeout.
    out, _ = run.communicate(timeout=300)
    assert run.returncode == 1, out
    assert re.search(r"FAILED killed: KilledWorker", out), out
    assert_same(snapshot(course), before)  # the others untouched, nothing half-written for "killed"
    assert not (course / "autograded" / "killed").exists()

    code, out = grade(course, "--jobs", "2")
    assert code == 0 and "Graded 1 of 1 submissions" in out, out
    after = snapshot(course)
    assert after["cells"][("killed", NOTEBOOK.stem)] == after["cells"][("right", NOTEBOOK.stem)]


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server of its own, on a socket in a temporary folder; its database's URL."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    assert bins, "PostgreSQL is not installed (Debian: apt-get install postgresql)"
    bindir = bins[-1].parent
    folder = Path(tempfile.mkdtemp(prefix="gradebook-pg-"))
    as_user = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*command):
        subprocess.run([*as_user, *command], check=True, capture_output=True)

    data = folder / "data"
    run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust")
    options = f"-k {folder} -c listen_addresses='' -c fsync=off"
    run(bindir / "pg_ctl", "-D", data, "-o", options, "-l", folder / "log", "-w", "start")
    try:
        run(bindir / "createdb", "-h", folder, "-U", "postgres", "gradebook")
        yield f"postgresql://postgres@/gradebook?host={folder}"
    finally:
        run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_postgresql_gradebook_round_trips_the_class(course, one_at_a_time, postgres, tmp_path):
    pg_course = tmp_path / "course"
    make("assignment", pg_course, DB_URL=postgres)  # a new gradebook: not the cached build
    plant(pg_course, CLASS)
    code, out = grade(pg_course, "--jobs", "2", "--db-url", postgres)
    assert code == 0, out
    assert "gradebook: postgresql://" in out
    assert not (pg_course / "gradebook.db").exists()
    assert_same(snapshot(pg_course, postgres), one_at_a_time)


def test_a_kernel_that_ignores_the_interrupt_is_stopped_and_only_what_is_left_scores_zero(
    course, one_at_a_time
):
    """The grading settings, with a grace period of a few seconds (a config file that loads ours)."""
    config = course.parent / "short_timeouts.py"
    main = ROOT / "nbgrader_config.py"
    config.write_text(
        f"c = get_config()  # noqa: F821\nload_subconfig({str(main)!r})  # noqa: F821\n"
        "c.Execute.timeout = 40\nc.Execute.iopub_timeout = 5\n"  # 40 s: the lesson's slowest cell fits
    )
    plant(course, {"stubborn": "stubborn"})
    code, out = grade(course, "--jobs", "1", "--config", str(config))
    assert code == 0 and "Graded 1 of 1 submissions" in out, out
    assert re.search(r"STOPPED stubborn, 01_\w+: .*ignored the interrupt", out), out
    cells = snapshot(course)["cells"][("stubborn", NOTEBOOK.stem)]
    scores = {name: (score, top) for name, score, *rest in cells if len(rest) == 2 for top in rest[:1]}
    first, *after = sorted(scores)  # ex1a-check, then the parts from the stubborn answer on
    assert scores[first][0] == scores[first][1] > 0, scores
    assert after and all(scores[name][0] == 0 for name in after), scores
    feedback = (course / "feedback" / "stubborn" / ASSIGNMENT / f"{NOTEBOOK.stem}.html").read_text()
    assert "ignored the interrupt" in feedback and "Not run, scored zero" in feedback
